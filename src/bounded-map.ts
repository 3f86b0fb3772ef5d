/**
 * A Map for memos whose keys come from data (amounts, URLs, strings, hours): once it holds
 * `limit` entries, adding a new key forgets them all first. Wholesale forgetting keeps a hit as
 * cheap as a plain Map lookup, and the working set refills in a few calls.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit = 10_000) {
    super()
  }

  override set(key: K, value: V): this {
    if (this.size >= this.limit && !this.has(key)) this.clear()
    return super.set(key, value)
  }
}
