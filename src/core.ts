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
    const unique = hasDuplicates(keys) ? [...new Set(keys)] : keys
    const waits: Promise<void>[] = []
    for (const key of unique) {
      const tail = this.tails.get(key)
      if (tail !== undefined) waits.push(tail)
    }
    let release!: () => void
    // `done` settles only after this task, which itself starts only after the earlier holders of
    // any of its keys: so it is a valid tail for every key, and the uncontended path stays cheap.
    const done = new Promise<void>((resolve) => { release = resolve })
    for (const key of unique) this.tails.set(key, done)
    if (waits.length > 0) await Promise.all(waits)
    try {
      return await task()
    } finally {
      release()
      for (const key of unique) if (this.tails.get(key) === done) this.tails.delete(key)
    }
  }
}

/** For the few keys of a call, a scan costs less than building a Set. */
function hasDuplicates(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) for (let j = 0; j < i; j++) if (keys[i] === keys[j]) return true
  return false
}
