/**
 * `relance.handle(request)`: the unsubscribe URL (and the restore URL when `onRestore` is set),
 * on the web-standard Request/Response, so it mounts in any framework.
 *
 * Unsubscribe: GET shows a confirmation page and changes nothing (mail scanners follow links);
 * POST suppresses at once. A POST with the RFC 8058 body `List-Unsubscribe=One-Click` (mailbox
 * providers) gets an empty 200; the confirmation page's own form gets a page back.
 */
import type { Core } from './core.js'
import type { Relance } from './engine.js'
import { isRelanceError } from './errors.js'
import { verifyToken } from './tokens.js'

interface PageText {
  title: string
  restoreTitle: string
  question: (shop: string) => string
  button: string
  done: (shop: string) => string
  invalid: string
  expired: string
}

const TEXT: Record<'fr' | 'en', PageText> = {
  fr: {
    title: 'Désinscription',
    restoreTitle: 'Votre panier',
    question: (shop) => `Ne plus recevoir les rappels de panier de ${shop} ?`,
    button: 'Me désinscrire',
    done: (shop) => `C'est fait : vous ne recevrez plus de rappels de panier de ${shop}.`,
    invalid: "Ce lien n'est pas valide.",
    expired: 'Ce lien a expiré.',
  },
  en: {
    title: 'Unsubscribe',
    restoreTitle: 'Your cart',
    question: (shop) => `Stop receiving cart reminders from ${shop}?`,
    button: 'Unsubscribe',
    done: (shop) => `Done: you will not receive cart reminders from ${shop} any more.`,
    invalid: 'This link is not valid.',
    expired: 'This link has expired.',
  },
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

function textFor(locale: string | null): { lang: 'fr' | 'en'; text: PageText } {
  const lang = locale?.toLowerCase().startsWith('fr') ? 'fr' : 'en'
  return { lang, text: TEXT[lang] }
}

function page(lang: string, title: string, body: string, status = 200): Response {
  const html = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #222;background:#222;color:#fff;cursor:pointer}</style></head><body>${body}</body></html>`
  return new Response(html, { status, headers: pageHeaders() })
}

function pageHeaders(): Headers {
  return new Headers({
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // The token is in the URL: never hand it to another site.
    'referrer-policy': 'no-referrer',
    'x-robots-tag': 'noindex',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  })
}

/** Where the token sits in a `…{token}…` URL template: a query parameter or a path segment. */
function tokenFrom(template: string, url: URL): string | null | undefined {
  // Paths only: behind a proxy the request's host often differs from the public one.
  const pattern = new URL(template.replace('{token}', 'RELANCE_TOKEN'))
  if (pattern.pathname.includes('RELANCE_TOKEN')) {
    const [before, after] = pattern.pathname.split('RELANCE_TOKEN') as [string, string]
    if (!url.pathname.startsWith(before) || !url.pathname.endsWith(after)) return undefined
    return decodeURIComponent(url.pathname.slice(before.length, url.pathname.length - after.length)) || null
  }
  if (url.pathname !== pattern.pathname) return undefined
  for (const [name, value] of pattern.searchParams) {
    if (value === 'RELANCE_TOKEN') return url.searchParams.get(name)
  }
  return undefined
}

async function formBody(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get('content-type') ?? ''
  if (type.includes('multipart/form-data')) {
    const form = await request.formData()
    const params = new URLSearchParams()
    for (const [key, value] of form) if (typeof value === 'string') params.append(key, value)
    return params
  }
  return new URLSearchParams(await request.text())
}

export async function handleRequest(core: Core, relance: Relance, request: Request): Promise<Response> {
  const url = new URL(request.url)
  const { shop } = core.options
  const unsubscribeToken = tokenFrom(shop.unsubscribeUrl, url)
  if (unsubscribeToken !== undefined) return handleUnsubscribe(core, relance, request, unsubscribeToken)
  if (core.hooks.onRestore !== undefined) {
    const restoreToken = tokenFrom(shop.restoreUrl, url)
    if (restoreToken !== undefined) return handleRestore(core, relance, request, restoreToken)
  }
  return new Response('Not found', { status: 404 })
}

async function localeOfToken(core: Core, token: string): Promise<string | null> {
  const { id } = verifyToken(core.keys, 'unsubscribe', token, core.clock.now())
  const send = await core.store.getSend(id)
  const profile = send === null ? null : await core.store.getProfile(send.profileId)
  return profile?.locale ?? core.options.shop.locale
}

async function handleUnsubscribe(core: Core, relance: Relance, request: Request, token: string | null): Promise<Response> {
  const shopName = escapeHtml(core.options.shop.name)
  let locale: string | null = core.options.shop.locale
  try {
    if (token === null) throw new Error('missing token')
    locale = await localeOfToken(core, token)
  } catch {
    const { lang, text } = textFor(locale)
    return page(lang, text.title, `<h1>${text.title}</h1><p>${text.invalid}</p>`, 400)
  }
  const { lang, text } = textFor(locale)
  if (request.method === 'GET' || request.method === 'HEAD') {
    const action = escapeHtml(new URL(request.url).pathname + new URL(request.url).search)
    return page(lang, text.title, `<h1>${text.title}</h1><p>${text.question(shopName)}</p><form method="post" action="${action}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><input type="hidden" name="confirm" value="page"><button type="submit">${text.button}</button></form>`)
  }
  if (request.method !== 'POST') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD, POST' } })
  const body = await formBody(request)
  if (body.get('List-Unsubscribe') !== 'One-Click') {
    return new Response('expected the body List-Unsubscribe=One-Click (RFC 8058)', { status: 400 })
  }
  await relance.unsubscribe(token!)
  if (body.get('confirm') === 'page') return page(lang, text.title, `<h1>${text.title}</h1><p>${text.done(shopName)}</p>`)
  return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } })
}

async function handleRestore(core: Core, relance: Relance, request: Request, token: string | null): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } })
  const { lang, text } = textFor(core.options.shop.locale)
  try {
    if (token === null) throw new Error('missing token')
    const deviceId = core.hooks.deviceIdFrom?.(request)
    const result = await relance.restore(token, deviceId === undefined ? {} : { deviceId })
    return await core.hooks.onRestore!(result, request)
  } catch (error) {
    if (isRelanceError(error, 'TOKEN_EXPIRED')) return page(lang, text.restoreTitle, `<p>${text.expired}</p>`, 410)
    if (isRelanceError(error, 'TOKEN_INVALID') || (error instanceof Error && error.message === 'missing token')) {
      return page(lang, text.restoreTitle, `<p>${text.invalid}</p>`, 404)
    }
    throw error
  }
}
