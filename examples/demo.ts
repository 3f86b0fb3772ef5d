/**
 * `npm run demo`: the cross-device story on the embedded defaults (memory store) with a simulated
 * clock. Camille fills a cart on her phone, gives her email, logs in on her desktop, leaves;
 * relance sends the 1 h and 24 h emails (written to ./outbox/ as .eml and .html), she restores the
 * cart on her tablet from the second email and buys there. Prints the timeline.
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { createRelance, type RelanceEvents } from 'relance'
import { outboxTransport } from 'relance/nodemailer'

const outbox = resolve(process.argv[2] ?? 'outbox')
await rm(outbox, { recursive: true, force: true })

let now = new Date('2026-06-09T07:12:00Z') // Tuesday 09:12 in Paris
const transport = outboxTransport({ dir: outbox })
const relance = createRelance({
  secret: 'demo-secret-demo-secret-demo-secret-0123',
  shop: {
    name: 'Maison Dupont', url: 'https://shop.example', from: 'Maison Dupont <bonjour@shop.example>',
    replyTo: 'service@shop.example', phone: '+33 1 23 45 67 89', address: '12 rue des Tanneurs, 75003 Paris',
    locale: 'fr', timeZone: 'Europe/Paris', currency: 'EUR',
    restoreUrl: 'https://shop.example/panier/restaurer?token={token}',
    unsubscribeUrl: 'https://shop.example/relance/unsubscribe?token={token}',
  },
  transport,
  clock: { now: () => now },
})

const clock = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit' })
const euros = (cents: number) => new Intl.NumberFormat('fr-FR', { style: 'currency', currency: 'EUR' }).format(cents / 100)
const line = (who: string, what: string) => console.log(`${clock.format(now).padEnd(22)} ${who.padEnd(9)} ${what}`)
const at = (iso: string) => { now = new Date(iso) }
const tick = async () => {
  const result = await relance.tick()
  if (result.sent + result.deferred + result.skipped === 0) line('relance', 'tick: nothing due')
}

relance.on('sent', (e: RelanceEvents['sent']) => {
  const file = transport.files[transport.files.length - 1]
  line('relance', `sent "${e.step}" to ${file?.to}: “${file?.subject}”`)
  line('', `→ ${file?.eml.replace(`${process.cwd()}/`, '')} (+ .html)`)
})
relance.on('skipped', (e) => { if (e.reason === 'superseded') line('relance', `${e.cartId} is superseded by her newer cart: one sequence per person`) })
relance.on('deferred', (e) => line('relance', `deferred "${e.step}" (${e.reason}) until ${clock.format(e.until)}`))
relance.on('recovered', (e) => line('relance', `recovered: order ${e.orderId}, ${euros(e.total)}, credited to "${e.step}" (${e.clicked ? 'after a click' : 'without a click'})`))

const shirt = { sku: 'LIN-CHEMISE-M', name: 'Chemise en lin — M', quantity: 1, unitAmount: 6900, imageUrl: 'https://picsum.photos/seed/chemise/160', url: 'https://shop.example/p/chemise-lin' }
const scarf = { sku: 'ECHARPE-BLEUE', name: 'Écharpe en laine, bleu nuit', quantity: 1, unitAmount: 3900, url: 'https://shop.example/p/echarpe' }

console.log(`\nrelance demo: the cross-device story (times in Paris; emails go to ${outbox.replace(`${process.cwd()}/`, './')}/)\n`)
await relance.trackCart({ cartId: 'cart-phone', deviceId: 'phone-7f3a', items: [shirt], currency: 'EUR' })
line('phone', `adds "${shirt.name}" to an anonymous cart (${euros(6900)})`)
at('2026-06-09T07:15:00Z')
await relance.identify({ deviceId: 'phone-7f3a', email: 'camille.martin@example.com', firstName: 'Camille', locale: 'fr', timeZone: 'Europe/Paris', consent: { marketing: true, source: 'newsletter-box' } })
line('phone', 'types her email in the newsletter box and ticks "send me offers"')
at('2026-06-09T10:40:00Z')
await relance.identify({ deviceId: 'desktop-91c2', customerId: 'cust-1042', email: 'camille.martin@example.com' })
await relance.trackCart({ cartId: 'cart-account-1042', deviceId: 'desktop-91c2', customerId: 'cust-1042', items: [shirt, scarf], currency: 'EUR' })
line('desktop', `logs in (account cust-1042) and adds "${scarf.name}": ${euros(10800)}; then leaves`)

for (const iso of ['2026-06-09T11:39:00Z', '2026-06-09T11:40:00Z', '2026-06-10T10:40:00Z']) {
  at(iso)
  await tick()
}

at('2026-06-10T18:05:00Z')
const restoreLink = /href="(https:\/\/shop\.example\/panier\/restaurer\?[^"]+)"/.exec(transport.files.length > 1 ? await (await import('node:fs/promises')).readFile(transport.files[1]!.html, 'utf8') : '')?.[1]
// Attribute values in HTML escape `&` and `=` as character references.
const token = new URL(restoreLink!.replace(/&#x3D;/gi, '=').replace(/&amp;/g, '&')).searchParams.get('token')!
const restored = await relance.restore(token, { deviceId: 'tablet-22de' })
line('tablet', `opens the "${restored.step}" email and restores her cart: ${restored.items.map((i) => i.name).join(' + ')}`)
at('2026-06-10T18:12:00Z')
line('tablet', `pays ${euros(10800)} (order-5531); the shop only knows the tablet here`)
await relance.orderPlaced({ orderId: 'order-5531', deviceId: 'tablet-22de', total: 10800, currency: 'EUR' })

for (const iso of ['2026-06-12T10:40:00Z', '2026-06-14T10:40:00Z']) {
  at(iso)
  await tick()
}

const report = await relance.report()
console.log('\nreport:')
for (const step of report.steps) {
  console.log(`  ${step.id.padEnd(12)} sent ${step.sent}  clicked ${step.clicked}  recovered ${step.recovered}  revenue ${euros(step.revenue)}`)
}
console.log(`\n${transport.files.length} emails in ${outbox.replace(`${process.cwd()}/`, './')}/: open the .html files in a browser, the .eml files in a mail client.\n`)
await relance.close()
