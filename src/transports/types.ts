/**
 * The mail-transport contract. A transport delivers one fully rendered message and says whether
 * the mail server accepted it. Everything else (retries, backoff, suppression, rate limits,
 * idempotency) lives in the engine, so a transport stays a thin adapter.
 */

/** Who and what a message is about; copied onto every message for logs and tests. */
export interface MessageMeta {
  cartId: string
  profileId: string
  /** The step id (`reminder`, `reassurance`…). */
  step: string
  /** The experiment variant id, or `null` outside experiments. */
  variant: string | null
}

export interface OutgoingMessage {
  /** One recipient address, already validated and normalised. */
  to: string
  /** RFC 5322 mailbox, e.g. `Maison Dupont <bonjour@shop.example>`. */
  from: string
  replyTo: string | null
  /** Plain Unicode; the transport encodes it (RFC 2047). Never contains CR or LF. */
  subject: string
  html: string
  text: string
  /**
   * Deterministic per cart + step (`<…@shop.example>`, angle brackets included): a resend after a
   * crash carries the same id, so mailbox providers and people can recognise it.
   */
  messageId: string
  /**
   * Extra headers, values already safe (no CR/LF): `List-Unsubscribe`, `List-Unsubscribe-Post`,
   * `Auto-Submitted`… Never `Message-ID`, `From`, `To` or `Subject` (those have fields above).
   */
  headers: Record<string, string>
  meta: MessageMeta
}

/** What the transport learned from the server when it accepted the message. */
export interface SendReceipt {
  /** The id the server or provider reports, when different from `messageId`. */
  providerId?: string
  /** The server's final response line, e.g. `250 2.0.0 OK queued as 4F2…`. */
  response?: string
}

export interface Transport {
  /** Short name for logs and events (`memory`, `smtp`, `outbox`). */
  readonly name: string
  /**
   * Most messages per second the engine may hand to this transport; the engine defers the
   * excess to the next second instead of hammering the provider.
   * @default undefined (no limit)
   */
  readonly maxPerSecond?: number
  /**
   * Deliver one message. Resolve only once the server accepted it. Reject with
   * `RelanceError('TRANSPORT_ERROR', …, { permanent })`: `permanent: true` for a definitive refusal
   * (SMTP 5xx, invalid address), `false` for what may work later (4xx, timeout, connection
   * refused). A permanent refusal suppresses the address unless `details.aboutRecipient` is
   * `false` (the message was refused, e.g. by a content filter after DATA, not the address).
   * Other errors are classified by the engine (`classifyTransportError`).
   */
  send(message: OutgoingMessage): Promise<SendReceipt>
  /** Release connections (pools, sockets). Optional. */
  close?(): Promise<void>
}
