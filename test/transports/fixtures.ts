import type { OutgoingMessage } from '../../src/transports/types.js'

/** Long, with `=` and `&`: quoted-printable must split and escape it, and decoding must restore it. */
export const RESTORE_URL =
  'https://shop.example/panier/restaurer?token=dGhpcyBpcyBhbiBvcGFxdWUgdG9rZW4=&utm_source=relance&utm_medium=email&utm_campaign=abandon-panier&lang=fr-FR&x=a=b'
export const UNSUBSCRIBE_URL =
  'https://shop.example/relance/unsubscribe?token=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz&s=1'

export function outgoing(overrides: Partial<OutgoingMessage> = {}): OutgoingMessage {
  const restore = RESTORE_URL.replaceAll('&', '&amp;')
  const unsubscribe = UNSUBSCRIBE_URL.replaceAll('&', '&amp;')
  return {
    to: 'jeanne.leclerc@example.com',
    from: 'Maison Dupré <bonjour@shop.example>',
    replyTo: 'Service client Dupré <service@shop.example>',
    subject: 'Jérôme, votre panier vous attend 🛒 — à très vite',
    html:
      '<!doctype html><html lang="fr"><body><p>Bonjour Jérôme, vos articles préférés sont toujours là.</p>' +
      `<p><a href="${restore}">Retrouver mon panier</a></p>` +
      `<p><a href="${unsubscribe}">Se désinscrire</a></p></body></html>`,
    text: `Bonjour Jérôme, vos articles préférés sont toujours là.\n\nRetrouver mon panier : ${RESTORE_URL}\n\nSe désinscrire : ${UNSUBSCRIBE_URL}\n`,
    messageId: '<relance.cart-42.reminder.7f3a9c@shop.example>',
    headers: {
      'List-Unsubscribe': `<${UNSUBSCRIBE_URL}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    meta: { cartId: 'cart-42', profileId: 'profile-1', step: 'reminder', variant: null },
    ...overrides,
  }
}
