/** How the benches repeat their measurements: rounds in rotated order, and medians. */

/** The middle value (the upper one of an even count). */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** How the tables print a series: `median (min–max)`, each written by `format`. */
export const medianRange = (xs: readonly number[], format: (x: number) => string): string =>
  `${format(median(xs))} (${format(Math.min(...xs))}–${format(Math.max(...xs))})`

/**
 * Measures every case once per round, in an order rotated each round, so that no case always
 * runs first (coldest) or last, and a ratio can be taken within a round: this machine's speed
 * drifts over seconds and minutes. Returns each case's measurements, round by round.
 */
export async function rotatedRounds<T>(rounds: number, cases: readonly T[], measure: (item: T) => Promise<number>): Promise<number[][]> {
  const results: number[][] = cases.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const index = (k + round) % cases.length
      results[index]!.push(await measure(cases[index]!))
    }
  }
  return results
}

/** Each case's measurements divided by the first case's in the same round (rates against a baseline). */
export const toFirstInRound = (results: readonly (readonly number[])[]): number[][] =>
  results.map((xs) => xs.map((x, round) => x / results[0]![round]!))
