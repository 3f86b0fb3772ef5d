/**
 * A real SMTP server for tests and benchmarks: `smtp-server` on 127.0.0.1, plain text (no STARTTLS),
 * any or no authentication, which records every accepted message (raw bytes, envelope, and the
 * `mailparser` reading of it) and can be scripted to refuse, defer or hang up, per message or per
 * recipient, and to go down and come back on the same port.
 *
 * ```ts
 * const server = await startSmtpServer()
 * server.failNext(2, 451)                       // the next two messages get `451`
 * server.rejectRecipient('gone@example.com')    // `550` at RCPT TO for this address
 * await server.stop(); await server.start()     // down (connection refused), then up again
 * server.messages[0].parsed.subject
 * await server.stop()
 * ```
 */
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer, type SMTPServerSession } from 'smtp-server'

/**
 * How the server answers a sender (`mail` stage), a recipient (`rcpt`) or a message (`data`).
 * - `'accept'`: `250`.
 * - `{ code, message? }`: that reply, e.g. `{ code: 550 }` (permanent) or `{ code: 451 }` (temporary).
 * - `'disconnect'`: the TCP connection is destroyed without a reply; nothing is recorded.
 * - `'keep-and-disconnect'` (`data` stage only): the message is recorded as accepted, then the
 *   connection is destroyed before the `250` goes out: the client cannot know it was delivered.
 */
export type SmtpReply = 'accept' | 'disconnect' | 'keep-and-disconnect' | { code: number; message?: string }

export type SmtpStage = 'mail' | 'rcpt' | 'data'

export interface SmtpReplyRule {
  /**
   * `mail` answers `MAIL FROM` (the sender), `rcpt` each `RCPT TO` (one recipient), `data` the end
   * of the message body.
   * @default 'data'
   */
  stage?: SmtpStage
  /**
   * Only when this address (case-insensitive) or pattern matches: the sender at `mail`, the
   * recipient at `rcpt`, any recipient of the message at `data`.
   * @default undefined (always)
   */
  address?: string | RegExp
  /**
   * How many times the rule answers before it is used up.
   * @default Infinity
   */
  times?: number
  reply: SmtpReply
}

export interface ReceivedMessage {
  /** `MAIL FROM` and `RCPT TO` addresses, as the client gave them. */
  envelope: { from: string | null; to: string[] }
  /** The bytes received after `DATA`, dot-unstuffed: the RFC 5322 message as the client built it. */
  raw: Buffer
  /** `raw` read by `mailparser`'s `simpleParser`. */
  parsed: ParsedMail
  /** The smtp-server session id: messages sent over one pooled connection share it. */
  sessionId: string
  /** The user name given to `AUTH`, if any. */
  user: string | null
}

/** A reply other than `250` that the server gave, in order. */
export interface RefusedAttempt {
  stage: SmtpStage
  /** The recipient (`rcpt`) or the message's recipients (`data`); empty at `mail`. */
  recipients: string[]
  reply: Exclude<SmtpReply, 'accept'>
}

export interface SmtpServerOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (a free port chosen by the system; kept across `stop()` / `start()`) */
  port?: number
  /**
   * Keep and parse every accepted message in `messages`. Benchmarks turn it off so that parsing
   * does not compete with the client for the CPU; `acceptedCount` still counts.
   * @default true
   */
  record?: boolean
  /**
   * Speak LMTP (RFC 2033) instead of SMTP: one reply per recipient after the data, so a refusal
   * reaches the client as a rejected recipient of a sent message rather than as an error.
   * @default false
   */
  lmtp?: boolean
  /**
   * Implicit TLS (`smtps://`, as on port 465) with smtp-server's built-in self-signed certificate:
   * clients must not verify it (`tls.rejectUnauthorized=false`).
   * @default false
   */
  tls?: boolean
  /**
   * Accepted `AUTH` credentials (user name → password); any other login gets `535`.
   * @default undefined (any login is accepted, and so is none)
   */
  users?: Record<string, string>
}

export interface SmtpTestServer {
  readonly host: string
  /** The listening port; the same after a restart. */
  readonly port: number
  /**
   * `smtp://<host>:<port>`, ready for `nodemailer.createTransport` or `nodemailerTransport`
   * (`smtps://…?tls.rejectUnauthorized=false` with `tls: true`).
   */
  readonly url: string
  /** False between `stop()` and `start()`. */
  readonly running: boolean
  /** Accepted messages, oldest first (empty when `record: false`). */
  readonly messages: ReceivedMessage[]
  /** Every reply that was not a `250`, oldest first. */
  readonly refused: RefusedAttempt[]
  /** Messages accepted since the start or the last `reset()`. */
  readonly acceptedCount: number
  /** TCP connections accepted since the start or the last `reset()` (pooling keeps it low). */
  readonly connectionCount: number
  /** TCP connections open right now. */
  readonly openConnections: number
  /** Adds a reply rule. Rules are tried in the order added; the first matching one answers. */
  reply(rule: SmtpReplyRule): void
  /** Answers the next `count` messages with `code` (a number or a full reply). */
  failNext(count: number, reply?: number | SmtpReply): void
  /** Refuses this recipient at `RCPT TO`, every time. @default code 550 */
  rejectRecipient(address: string | RegExp, code?: number): void
  /** Forgets rules, messages, refusals and counters. */
  reset(): void
  /** Resolves once `count` messages in total have been accepted and recorded. */
  waitForMessages(count: number): Promise<ReceivedMessage[]>
  /** Resolves once no client connection is open (after a pool was closed, say). */
  waitForNoConnections(): Promise<void>
  /** Destroys every open connection, as a server restart would; the server keeps listening. */
  dropConnections(): void
  /** Stops listening and drops every connection: clients now get `ECONNREFUSED`. */
  stop(): Promise<void>
  /** Listens again on the same port. */
  start(): Promise<void>
}

const DEFAULT_TEXT: Record<number, string> = {
  421: 'Service not available, closing channel',
  450: 'Mailbox unavailable, try again later',
  451: 'Local error in processing, try again later',
  452: 'Insufficient storage, try again later',
  550: 'Mailbox unavailable',
  552: 'Message size exceeds fixed maximum',
  553: 'Mailbox name not allowed',
  554: 'Transaction failed',
}

function smtpError(code: number, message: string | undefined): Error & { responseCode: number } {
  return Object.assign(new Error(message ?? DEFAULT_TEXT[code] ?? 'Refused'), { responseCode: code })
}

function matches(pattern: string | RegExp | undefined, addresses: string[]): boolean {
  if (pattern === undefined) return true
  return addresses.some((address) =>
    typeof pattern === 'string' ? address.toLowerCase() === pattern.toLowerCase() : pattern.test(address),
  )
}

/** Starts a recording SMTP server on a free port of 127.0.0.1. Stop it with `stop()`. */
export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<SmtpTestServer> {
  const host = options.host ?? '127.0.0.1'
  const record = options.record ?? true
  let port = options.port ?? 0
  let server: SMTPServer | null = null
  let rules: Array<SmtpReplyRule & { left: number }> = []
  const messages: ReceivedMessage[] = []
  const refused: RefusedAttempt[] = []
  let acceptedCount = 0
  let connectionCount = 0
  const sockets = new Set<Socket>()
  const waiters: Array<{ count: number; resolve: (messages: ReceivedMessage[]) => void }> = []
  let idleWaiters: Array<() => void> = []

  function decide(stage: SmtpStage, addresses: string[]): SmtpReply {
    for (const rule of rules) {
      if ((rule.stage ?? 'data') !== stage || rule.left <= 0 || !matches(rule.address, addresses)) continue
      rule.left -= 1
      return rule.reply
    }
    return 'accept'
  }

  function socketOf(session: SMTPServerSession): Socket | undefined {
    for (const socket of sockets) if (socket.remotePort === session.remotePort) return socket
    return undefined
  }

  function settleWaiters(): void {
    for (const waiter of [...waiters]) {
      if (messages.length < waiter.count) continue
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(messages.slice(0, waiter.count))
    }
  }

  /** Records an accepted message; parsing is chained so `messages` keeps the acceptance order. */
  let parsing: Promise<unknown> = Promise.resolve()
  async function keep(raw: Buffer, session: SMTPServerSession): Promise<number> {
    acceptedCount += 1
    const seq = acceptedCount
    if (!record) return seq
    const mailFrom = session.envelope.mailFrom
    const envelope = {
      from: mailFrom === false ? null : mailFrom.address,
      to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
    }
    const user = typeof session.user === 'string' ? session.user : null
    const recorded = parsing.then(async () => {
      messages.push({ envelope, raw, parsed: await simpleParser(raw), sessionId: session.id, user })
      settleWaiters()
    })
    parsing = recorded.catch(() => {})
    await recorded
    return seq
  }

  function create(): SMTPServer {
    const smtp = new SMTPServer({
      logger: false,
      disableReverseLookup: true,
      lmtp: options.lmtp ?? false,
      secure: options.tls ?? false,
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      allowInsecureAuth: true,
      closeTimeout: 100,
      onAuth(auth, _session, callback) {
        const user = auth.username ?? 'anonymous'
        if (options.users && options.users[user] !== auth.password) {
          return callback(smtpError(535, 'Authentication credentials invalid'))
        }
        callback(null, { user })
      },
      onMailFrom(address, session, callback) {
        const reply = decide('mail', [address.address])
        if (reply === 'accept') return callback()
        refused.push({ stage: 'mail', recipients: [], reply })
        if (typeof reply === 'object') return callback(smtpError(reply.code, reply.message))
        socketOf(session)?.destroy()
      },
      onRcptTo(address, session, callback) {
        const reply = decide('rcpt', [address.address])
        if (reply === 'accept') return callback()
        refused.push({ stage: 'rcpt', recipients: [address.address], reply })
        if (typeof reply === 'object') return callback(smtpError(reply.code, reply.message))
        socketOf(session)?.destroy()
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        stream.on('end', () => {
          const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address)
          const reply = decide('data', recipients)
          const raw = Buffer.concat(chunks)
          if (reply === 'accept') {
            keep(raw, session).then((seq) => callback(null, `OK queued as m${seq}`), callback)
            return
          }
          refused.push({ stage: 'data', recipients, reply })
          if (typeof reply === 'object') return callback(smtpError(reply.code, reply.message))
          if (reply === 'disconnect') return void socketOf(session)?.destroy()
          keep(raw, session).then(() => socketOf(session)?.destroy(), callback)
        })
      },
    })
    smtp.server.on('connection', (socket: Socket) => {
      connectionCount += 1
      sockets.add(socket)
      socket.once('close', () => {
        sockets.delete(socket)
        if (sockets.size > 0) return
        for (const resolve of idleWaiters) resolve()
        idleWaiters = []
      })
    })
    // A destroyed connection surfaces as a socket error on the server; it is expected here.
    smtp.on('error', () => {})
    return smtp
  }

  async function start(): Promise<void> {
    if (server) return
    const smtp = create()
    smtp.listen(port, host)
    await once(smtp.server, 'listening')
    const address = smtp.server.address()
    if (address === null || typeof address === 'string') throw new Error('smtp-server has no TCP address')
    port = address.port
    server = smtp
  }

  function addRule(rule: SmtpReplyRule): void {
    rules.push({ ...rule, left: rule.times ?? Infinity })
  }

  function dropConnections(): void {
    for (const socket of sockets) socket.destroy()
  }

  async function stop(): Promise<void> {
    const smtp = server
    if (!smtp) return
    server = null
    const closed = new Promise<void>((resolve) => smtp.close(() => resolve()))
    dropConnections()
    await closed
  }

  await start()

  return {
    host,
    get port() {
      return port
    },
    get url() {
      return options.tls ? `smtps://${host}:${port}/?tls.rejectUnauthorized=false` : `smtp://${host}:${port}`
    },
    get running() {
      return server !== null
    },
    messages,
    refused,
    get acceptedCount() {
      return acceptedCount
    },
    get connectionCount() {
      return connectionCount
    },
    get openConnections() {
      return sockets.size
    },
    reply: addRule,
    failNext(count, reply = 451) {
      addRule({ stage: 'data', times: count, reply: typeof reply === 'number' ? { code: reply } : reply })
    },
    rejectRecipient(address, code = 550) {
      addRule({ stage: 'rcpt', address, reply: { code } })
    },
    reset() {
      rules = []
      messages.length = 0
      refused.length = 0
      acceptedCount = 0
      connectionCount = 0
    },
    waitForMessages(count) {
      return new Promise((resolve) => {
        waiters.push({ count, resolve })
        settleWaiters()
      })
    },
    waitForNoConnections() {
      if (sockets.size === 0) return Promise.resolve()
      return new Promise<void>((resolve) => idleWaiters.push(resolve))
    },
    dropConnections,
    stop,
    start,
  }
}
