/** The internal state shared by the engine's modules (never exported from the package). */
import type { Keys } from './tokens.js'
import type { RelanceOptions, ResolvedOptions } from './options.js'
import type { Renderer } from './render/types.js'
import type { Store } from './stores/types.js'
import type { Transport } from './transports/types.js'
import type { RelanceEvents } from './types.js'

export interface Core {
  options: ResolvedOptions
  store: Store
  transport: Transport
  renderer: Renderer
  keys: Keys
  clock: { now(): Date }
  hooks: Pick<RelanceOptions, 'createCode' | 'beforeSend' | 'onTask' | 'onRestore' | 'deviceIdFrom'>
  emit<K extends keyof RelanceEvents>(name: K, event: RelanceEvents[K]): void
  locks: KeyedLock
  workerId: string
  /** Resolves once the store and templates are ready; every public method awaits it. */
  ready(): Promise<void>
}

/**
 * In-process mutual exclusion by key (cart, device, email, customer). Identity resolution reads
 * several records and then writes; two concurrent calls about the same person would otherwise
 * both create a profile. Keys are taken together, so calls never deadlock; across processes the
 * stores' unique keys catch what this cannot.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)]
    const before = Promise.all(unique.map((key) => this.tails.get(key)))
    let release!: () => void
    const done = new Promise<void>((resolve) => { release = resolve })
    const tail = before.then(() => done)
    for (const key of unique) this.tails.set(key, tail)
    await before
    try {
      return await task()
    } finally {
      release()
      for (const key of unique) if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }
}
