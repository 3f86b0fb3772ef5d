/**
 * One worker process: `node --import tsx test/workers/worker.ts <store-spec> <now> <log-file> [options]`.
 *
 * Ticks the engine at the fake time `<now>` (ISO) until a tick claims nothing, over a transport
 * that appends every message it accepts to `<log-file>` as one JSON line
 * `{ messageId, cartId, step, worker }` (appends of one short line are atomic, so several
 * processes can share the file). Prints a JSON summary on stdout when done.
 *
 * Options:
 * - `--id <worker-id>`                 the engine's worker id (default: the pid).
 * - `--block-after <n>`                after `n` confirmed sends, every further message is accepted
 *                                      (logged) but never confirmed, and `blocked` is printed: the
 *                                      test kills the process there, mid-batch.
 * - `--batch <n>`, `--concurrency <n>` the engine's worker settings.
 * - `--latency <ms>`                   the transport answers after this long, like a provider's
 *                                      API over the network (for the scaling benchmark).
 * - `--wait no`                        start ticking at once instead of waiting for `go` on stdin
 *                                      (printed `ready` tells the parent the store is open).
 */
import { appendFileSync } from 'node:fs'
import { createRelance } from '../../src/engine.js'
import type { OutgoingMessage, SendReceipt, Transport } from '../../src/transports/types.js'
import { SECRET, SHOP } from '../helpers/engine.js'
import { storeFromSpec } from './store-spec.js'

const [spec, nowArg, logFile, ...rest] = process.argv.slice(2)
if (spec === undefined || nowArg === undefined || logFile === undefined) {
  console.error('usage: worker.ts <store-spec> <now> <log-file> [--id id] [--block-after n] [--batch n] [--concurrency n]')
  process.exit(2)
}
const flags = new Map<string, string>()
for (let i = 0; i < rest.length; i += 2) flags.set(rest[i]!.replace(/^--/, ''), rest[i + 1]!)
const id = flags.get('id') ?? `worker-${process.pid}`
const blockAfter = flags.has('block-after') ? Number(flags.get('block-after')) : Infinity
const latency = Number(flags.get('latency') ?? 0)

let confirmed = 0
let blocked = false
const transport: Transport = {
  name: 'log-file',
  async send(message: OutgoingMessage): Promise<SendReceipt> {
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency))
    appendFileSync(logFile, `${JSON.stringify({ messageId: message.messageId, cartId: message.meta.cartId, step: message.meta.step, worker: id })}\n`)
    if (confirmed >= blockAfter) {
      if (!blocked) {
        blocked = true
        process.stdout.write('blocked\n')
      }
      return new Promise<never>(() => {})
    }
    confirmed++
    return { response: '250 logged' }
  },
}

const start = new Date(nowArg)
let t = start.getTime()
const store = storeFromSpec(spec)
const relance = createRelance({
  secret: SECRET,
  shop: SHOP,
  store,
  transport,
  clock: { now: () => new Date(t) },
  quietHours: false,
  frequencyCap: false,
  worker: {
    id,
    ...(flags.has('batch') ? { batchSize: Number(flags.get('batch')) } : {}),
    ...(flags.has('concurrency') ? { concurrency: Number(flags.get('concurrency')) } : {}),
  },
})
relance.on('error', (event) => {
  console.error(`[${id}] ${event.during}: ${event.error.message}`)
})

// Everyone starts together: the test says "go" on stdin once every worker is ready.
await relance.ready()
process.stdout.write('ready\n')
if (flags.get('wait') !== 'no') {
  await new Promise<void>((resolve) => {
    process.stdin.on('data', (chunk) => { if (chunk.toString().includes('go')) resolve() })
  })
  process.stdin.pause()
}

let claimed = 0
let sent = 0
let ticks = 0
for (;;) {
  const result = await relance.tick()
  ticks++
  claimed += result.claimed
  sent += result.sent
  if (result.claimed === 0) break
  t += 1 // a job settled "next tick" is due 1 ms later
}
process.stdout.write(`${JSON.stringify({ id, ticks, claimed, sent })}\n`)
await relance.close()
