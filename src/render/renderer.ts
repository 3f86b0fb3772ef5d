// TEMPORARY stand-in while the MJML pipeline is built on the `templates` branch; replaced there.
import { RelanceError } from '../errors.js'
import type { RenderInput, RenderedEmail, Renderer } from './types.js'

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const safeUrl = (s: string | undefined) => {
  if (s === undefined) return null
  try { const u = new URL(s); return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null } catch { return null }
}

export function createTemplateRenderer(_options: { templates?: string | undefined } = {}): Renderer {
  const names = new Set(['reminder', 'reassurance', 'last-chance'])
  return {
    async init() {},
    has: (name) => names.has(name),
    async render(input: RenderInput): Promise<RenderedEmail> {
      if (!names.has(input.template)) throw new RelanceError('TEMPLATE_ERROR', `unknown template ${input.template}`)
      const lines = input.cart.items.map((i) => {
        const url = safeUrl(i.url)
        return `<li>${url ? `<a href="${escape(url)}">${escape(i.name)}</a>` : escape(i.name)} × ${i.quantity}</li>`
      })
      const subject = (input.subject ?? `${input.customer.firstName ?? ''} your cart at ${input.shop.name}`).trim()
      return {
        subject,
        preheader: 'Your cart is waiting',
        locale: input.locale,
        html: `<html lang="${escape(input.locale)}"><body><p>Hello ${escape(input.customer.firstName ?? '')}</p><ul>${lines.join('')}</ul>${input.incentive ? `<p>Code ${escape(input.incentive.code)}</p>` : ''}<a href="${escape(input.restoreUrl)}">Restore</a> <a href="${escape(input.unsubscribeUrl)}">Unsubscribe</a></body></html>`,
        text: `Hello ${input.customer.firstName ?? ''}\n${input.cart.items.map((i) => `${i.name} x ${i.quantity}`).join('\n')}\n${input.restoreUrl}\n${input.unsubscribeUrl}`,
      }
    },
  }
}
