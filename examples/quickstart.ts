import { createRelance, memoryTransport } from 'relance'

const transport = memoryTransport() // prints nothing, keeps messages: swap for nodemailerTransport in production
let now = new Date('2026-06-10T09:00:00Z') // a simulated clock, so this runs in an instant
const relance = createRelance({
  secret: 'replace-me: at least 32 random characters!!',
  shop: {
    name: 'Maison Dupont', url: 'https://shop.example', from: 'Maison Dupont <bonjour@shop.example>',
    locale: 'fr', timeZone: 'Europe/Paris', currency: 'EUR',
    restoreUrl: 'https://shop.example/panier/restaurer?token={token}',
    unsubscribeUrl: 'https://shop.example/relance/unsubscribe?token={token}',
  },
  transport,
  clock: { now: () => now },
})

await relance.identify({ deviceId: 'phone-1', email: 'camille@example.com', firstName: 'Camille', consent: { marketing: true, source: 'checkout' } })
await relance.trackCart({ cartId: 'cart-1', deviceId: 'phone-1', currency: 'EUR', items: [{ sku: 'LIN-M', name: 'Chemise en lin', quantity: 1, unitAmount: 4990 }] })
now = new Date('2026-06-10T10:00:00Z') // one hour later, she has not come back
console.log(await relance.tick()) // { sent: 1, … }
console.log(transport.messages[0]?.subject)
