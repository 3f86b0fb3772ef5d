/**
 * The template-renderer seam. The engine hands raw recovery data (integer minor units, Dates,
 * library-built URLs) to a `Renderer`; the renderer owns presentation: locale fallback, money and
 * date formatting, summarising long carts, URL validation, escaping, MJML, the text part.
 *
 * The engine never formats anything a customer reads, so a shop can swap the renderer without
 * touching scheduling, and the MJML pipeline can change without touching the engine.
 */

/** One cart line as the engine stores it. Amounts are integer minor units (cents). */
export interface RenderItem {
  sku: string
  name: string
  quantity: number
  unitAmount: number
  imageUrl?: string | undefined
  url?: string | undefined
  variant?: string | undefined
}

export type IncentiveKind = 'percent' | 'amount' | 'free-shipping'

/** The incentive attached to a step, with the single-use code made for this email. */
export interface RenderIncentive {
  kind: IncentiveKind
  /** Percent (1–100) for `percent`, integer minor units for `amount`, 0 for `free-shipping`. */
  value: number
  code: string
  expiresAt: Date | null
}

/** The sender identity and contact points shown in every email. */
export interface RenderShop {
  name: string
  url: string
  /** Email address part of `from`. */
  fromAddress: string
  replyTo: string | null
  locale: string
  timeZone: string
  currency: string
  logoUrl: string | null
  /** Postal address of the sender, shown in the footer (required for commercial email). */
  address: string | null
  phone: string | null
  supportUrl: string | null
}

export interface RenderInput {
  /** Template name, e.g. `reminder`; a folder of the templates directory. */
  template: string
  /** Wanted locale (the profile's, else the shop's). The renderer applies its fallback chain. */
  locale: string
  shop: RenderShop
  customer: { firstName: string | null }
  cart: { id: string; items: RenderItem[]; currency: string }
  /** Absolute URLs built by the library (signed tokens inside). */
  restoreUrl: string
  unsubscribeUrl: string
  incentive: RenderIncentive | null
  step: { id: string; index: number; count: number }
  variant: string | null
  /** A subject override (Handlebars source) from the step or the experiment variant. */
  subject?: string | undefined
  /** The recipient's IANA zone for dates, when known. @default shop.timeZone */
  timeZone?: string | undefined
  /** When the email is rendered, for relative dates ("valid until…"). */
  now: Date
}

export interface RenderedEmail {
  subject: string
  preheader: string
  html: string
  text: string
  /** The locale actually used after the fallback chain (`fr-CA` → `fr` → shop locale). */
  locale: string
}

export interface Renderer {
  /**
   * Load, compile and validate every template and partial. Called once by `createRelance`'s
   * startup before the first send; throws `RelanceError('TEMPLATE_ERROR')` naming file and line.
   */
  init(): Promise<void>
  /**
   * True when a template of this name exists (in any locale). Synchronous and usable before
   * `init()`: `createRelance` calls it to validate `sequence` eagerly.
   */
  has(template: string): boolean
  /**
   * Pick up template changes made since `init()`; the engine calls it at the start of every tick,
   * so a saved template is used by the next tick. Resolves `true` when it switched to new
   * templates; rejects (and keeps the previous ones) when the new ones are broken.
   * @default undefined (templates are fixed at startup)
   */
  refresh?(): Promise<boolean>
  /** Render one email. Must not throw for valid input once `init()` resolved. */
  render(input: RenderInput): Promise<RenderedEmail>
}
