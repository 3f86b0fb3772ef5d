/**
 * End-to-end delivery: `tick()` → render → `nodemailerTransport` → a local smtp-server, against
 * raw pooled nodemailer sending the very same messages (captured from the engine's run), in the
 * same process and the same run. Rounds alternate the order; the median is reported.
 *
 *   npx tsx bench/delivery.ts [--carts 2000] [--rounds 3]
 *
 * The engine's figure includes everything a real tick does per cart: claiming the job, reading
 * the cart, profile and send log, consent, cap and quiet-hour checks, reserving the send,
 * rendering the email, the SMTP round trip, recording it as sent and scheduling the next step.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import nodemailer from 'nodemailer'
import { createRelance, memoryStore } from '../src/index.js'
import { nodemailerTransport } from '../src/nodemailer.js'
import { toMailOptions } from '../src/transports/mail-options.js'
import { connectWithoutNagle } from '../src/transports/no-delay-socket.js'
import type { OutgoingMessage, Transport } from '../src/transports/types.js'
import { FakeClock, ITEMS, SECRET, SHOP } from '../test/helpers/engine.js'
import { median } from './_rounds.js'
import { childScript } from './_scripts.js'

/** The SMTP server runs in a child process (see `_smtp-sink.ts`). */
interface Sink {
  host: string
  port: number
  url: string
  accepted(): Promise<number>
  stop(): Promise<void>
}

async function startSink(): Promise<Sink> {
  const sink = childScript('./_smtp-sink.ts')
  const child: ChildProcess = fork(sink.file, { execArgv: sink.execArgv })
  const [{ host, port }] = (await once(child, 'message')) as [{ host: string; port: number }]
  return {
    host, port, url: `smtp://${host}:${port}`,
    async accepted() {
      child.send('count')
      const [reply] = (await once(child, 'message')) as [{ accepted: number }]
      return reply.accepted
    },
    async stop() {
      child.send('stop')
      await once(child, 'exit')
    },
  }
}

const { values } = parseArgs({ options: { carts: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } } })
const carts = Number(values.carts)
const rounds = Number(values.rounds)

/** One engine run: `carts` abandoned carts, one tick; returns seconds and the messages it sent. */
async function engineRun(server: Sink): Promise<{ seconds: number; messages: OutgoingMessage[] }> {
  const clock = new FakeClock('2026-06-10T08:00:00Z')
  const smtp = nodemailerTransport({ smtp: server.url })
  const messages: OutgoingMessage[] = []
  const tapped: Transport = { name: smtp.name, send: (message) => smtp.send(message).then((receipt) => (messages.push(message), receipt)) }
  const relance = createRelance({ secret: SECRET, shop: SHOP, store: memoryStore(), transport: tapped, clock, quietHours: false })
  for (let n = 0; n < carts; n++) {
    await relance.identify({ deviceId: `d${n}`, email: `client.${n}@example.com`, firstName: 'Camille', consent: { marketing: true } })
    await relance.trackCart({ cartId: `c${n}`, deviceId: `d${n}`, items: ITEMS, currency: 'EUR' })
  }
  // Open the pool's connection outside the timing, as a long-running process would have it.
  await smtp.send({ ...warmup, to: 'warmup@example.com' })
  clock.advance({ hours: 1 })
  const before = await server.accepted()
  const started = performance.now()
  const result = await relance.tick()
  const seconds = (performance.now() - started) / 1000
  if (result.sent !== carts || (await server.accepted()) - before !== carts) throw new Error(`engine: sent ${result.sent}, server got ${(await server.accepted()) - before}`)
  await smtp.close?.()
  return { seconds, messages }
}

const warmup: OutgoingMessage = {
  to: 'warmup@example.com', from: SHOP.from, replyTo: null, subject: 'warm-up', html: '<p>x</p>', text: 'x',
  messageId: '<warmup@shop.example>', headers: {}, meta: { cartId: 'w', profileId: 'w', step: 'w', variant: null },
}

async function rawRun(server: Sink, messages: OutgoingMessage[], extra: Record<string, unknown>): Promise<number> {
  const transporter = nodemailer.createTransport({ host: server.host, port: server.port, pool: true, ...extra })
  const prebuilt = messages.map(toMailOptions)
  await transporter.sendMail(toMailOptions(warmup))
  const before = await server.accepted()
  const started = performance.now()
  await Promise.all(prebuilt.map((mail) => transporter.sendMail(mail)))
  const seconds = (performance.now() - started) / 1000
  if ((await server.accepted()) - before !== messages.length) throw new Error('raw: messages lost')
  transporter.close()
  return seconds
}

const server = await startSink()
const times = { engine: [] as number[], raw: [] as number[], rawNoNagle: [] as number[] }
try {
  for (let round = 0; round < rounds; round++) {
    const { seconds, messages } = await engineRun(server)
    times.engine.push(seconds)
    const raws = [
      async () => times.raw.push(await rawRun(server, messages, {})),
      async () => times.rawNoNagle.push(await rawRun(server, messages, { getSocket: connectWithoutNagle })),
    ]
    for (const run of round % 2 === 0 ? raws : raws.reverse()) await run()
  }
} finally {
  await server.stop()
}

const rate = (xs: number[]) => carts / median(xs)
const best = Math.max(rate(times.raw), rate(times.rawNoNagle))
console.log(`Delivery of ${carts} due carts, one tick, median of ${rounds} rounds (SMTP server in its own process)\n`)
console.log('| path | emails/s | vs fastest raw |')
console.log('| --- | ---: | ---: |')
for (const [label, xs] of [
  ['raw pooled nodemailer (defaults)', times.raw],
  ['raw pooled nodemailer, Nagle off', times.rawNoNagle],
  ['relance tick() → nodemailerTransport (end to end)', times.engine],
] as const) {
  console.log(`| ${label} | ${rate(xs).toFixed(0)} | ${(rate(xs) / best).toFixed(2)} |`)
}
