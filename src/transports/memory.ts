import type { OutgoingMessage, SendReceipt, Transport } from './types.js'

export interface MemoryTransportOptions {
  /**
   * Called before a message is accepted; return (or throw) an error to make this send fail, as a
   * real server would. Tests use it to simulate 4xx/5xx replies and outages.
   * @default undefined (every message is accepted)
   */
  fail?: (message: OutgoingMessage) => unknown
  /** See `Transport.maxPerSecond`. @default undefined */
  maxPerSecond?: number
}

export interface MemoryTransport extends Transport {
  /** Every accepted message, oldest first. Clear it with `messages.length = 0`. */
  readonly messages: OutgoingMessage[]
}

/** Keeps sent messages in an array: the embedded default, for tests, demos and previews. */
export function memoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const messages: OutgoingMessage[] = []
  return {
    name: 'memory',
    ...(options.maxPerSecond === undefined ? {} : { maxPerSecond: options.maxPerSecond }),
    messages,
    async send(message: OutgoingMessage): Promise<SendReceipt> {
      const failure = options.fail?.(message)
      if (failure !== undefined && failure !== null && failure !== false) throw failure
      messages.push(structuredClone(message))
      return { response: '250 accepted in memory' }
    },
  }
}
