/**
 * SMTP throughput: pooled nodemailer on its own vs the same messages through `nodemailerTransport`,
 * against a local smtp-server running in this process (client and server share one event loop,
 * so absolute figures are a floor; the ratio is what matters).
 *
 *   npx tsx bench/smtp.ts [--messages 2000] [--sequential 100] [--rounds 3]
 *
 * `all at once` hands every message to the transport without waiting (the pool queues them);
 * `one at a time` awaits each send before the next, like a single worker would.
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import nodemailer from 'nodemailer'
import { nodemailerTransport } from '../src/nodemailer.js'
import { toMailOptions, type MailOptionsLike } from '../src/transports/mail-options.js'
import { connectWithoutNagle } from '../src/transports/no-delay-socket.js'
import type { OutgoingMessage } from '../src/transports/types.js'
import { startSmtpServer, type SmtpTestServer } from '../test/helpers/smtp-server.js'
import { outgoing } from '../test/transports/fixtures.js'
import { median } from './_rounds.js'

export interface BenchRow {
  scenario: string
  mode: 'all at once' | 'one at a time'
  messages: number
  seconds: number
  perSecond: number
}

/** A sender under test: takes prebuilt messages, resolves once the server accepted them all. */
interface Contender {
  scenario: string
  open(server: SmtpTestServer): { send(index: number): Promise<unknown>; close(): Promise<void> }
}

export function buildMessages(count: number): OutgoingMessage[] {
  return Array.from({ length: count }, (_, index) =>
    outgoing({
      to: `client.${index}@example.com`,
      messageId: `<relance.bench-${index}.reminder@shop.example>`,
      meta: { cartId: `cart-${index}`, profileId: `profile-${index}`, step: 'reminder', variant: null },
    }),
  )
}

function contenders(messages: OutgoingMessage[]): Contender[] {
  const prebuilt: MailOptionsLike[] = messages.map(toMailOptions)
  const raw = (scenario: string, extra: Record<string, unknown>): Contender => ({
    scenario,
    open(server) {
      const transporter = nodemailer.createTransport({ host: server.host, port: server.port, pool: true, ...extra })
      return {
        send: (index) => transporter.sendMail(prebuilt[index]!),
        close: async () => transporter.close(),
      }
    },
  })
  return [
    raw('raw nodemailer, pooled', {}),
    raw('raw nodemailer, pooled, no Nagle', { getSocket: connectWithoutNagle }),
    {
      scenario: 'relance nodemailerTransport({ smtp })',
      open(server) {
        const transport = nodemailerTransport({ smtp: server.url })
        return {
          send: (index) => transport.send(messages[index]!),
          close: async () => transport.close?.(),
        }
      },
    },
  ]
}

async function measure(
  contender: Contender,
  server: SmtpTestServer,
  mode: BenchRow['mode'],
  count: number,
): Promise<number> {
  const sender = contender.open(server)
  try {
    // The first message opens a connection (smtp-server waits 100 ms before its greeting); keep
    // that out of the timing, as a long-running pool would.
    await sender.send(0)
    const started = performance.now()
    if (mode === 'all at once') {
      await Promise.all(Array.from({ length: count }, (_, index) => sender.send(index)))
    } else {
      for (let index = 0; index < count; index += 1) await sender.send(index)
    }
    return (performance.now() - started) / 1000
  } finally {
    await sender.close()
  }
}

/** Runs every contender in both modes, alternating their order between rounds. */
export async function runSmtpBench(options: { messages: number; sequential: number; rounds: number }): Promise<BenchRow[]> {
  const server = await startSmtpServer({ record: false })
  const messages = buildMessages(Math.max(options.messages, options.sequential))
  const all = contenders(messages)
  const rows: BenchRow[] = []
  try {
    for (const [mode, count] of [
      ['all at once', options.messages],
      ['one at a time', options.sequential],
    ] as const) {
      const seconds = new Map<string, number[]>(all.map((contender) => [contender.scenario, []]))
      for (let round = 0; round < options.rounds; round += 1) {
        const order = round % 2 === 0 ? all : [...all].reverse()
        for (const contender of order) {
          const before = server.acceptedCount
          seconds.get(contender.scenario)!.push(await measure(contender, server, mode, count))
          if (server.acceptedCount - before !== count + 1) throw new Error(`${contender.scenario}: messages lost`)
        }
      }
      for (const contender of all) {
        const time = median(seconds.get(contender.scenario)!)
        rows.push({ scenario: contender.scenario, mode, messages: count, seconds: time, perSecond: count / time })
      }
    }
  } finally {
    await server.stop()
  }
  return rows
}

export function formatTable(rows: BenchRow[]): string {
  const lines = [
    '| scenario | mode | messages | seconds | messages/s | vs raw pooled |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ]
  for (const row of rows) {
    const raw = rows.find((candidate) => candidate.mode === row.mode && candidate.scenario === 'raw nodemailer, pooled')!
    lines.push(
      `| ${row.scenario} | ${row.mode} | ${row.messages} | ${row.seconds.toFixed(2)} | ${row.perSecond.toFixed(0)} | ${(row.perSecond / raw.perSecond).toFixed(2)} |`,
    )
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '2000' },
      sequential: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
    },
  })
  const options = { messages: Number(values.messages), sequential: Number(values.sequential), rounds: Number(values.rounds) }
  const sample = await nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail(toMailOptions(outgoing()))
  const size = (sample.message as Buffer).byteLength
  console.log(
    `SMTP throughput: ${options.messages} messages all at once, ${options.sequential} one at a time, ` +
      `${(size / 1024).toFixed(1)} KiB each, median of ${options.rounds} rounds, Node ${process.version}\n`,
  )
  console.log(formatTable(await runSmtpBench(options)))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
