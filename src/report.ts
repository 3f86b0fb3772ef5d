/**
 * `report()`: what the sequence did and what it earned, per step and per experiment variant.
 * Revenue is the real order total (integer minor units of the shop currency; orders in other
 * currencies are listed apart, never converted).
 */
import type { Core } from './core.js'
import type { SendRecord, Store } from './stores/types.js'
import type { TimeInput } from './types.js'
import { dateOf, failInput, isPlainObject, knownKeys } from './validate.js'

export interface ReportOptions {
  /** Inclusive start (sends, orders and assignments from this time). @default the beginning */
  since?: TimeInput
  /** Exclusive end. @default just after now: what happened at the clock's current time counts */
  until?: TimeInput
}

export interface StepReport {
  id: string
  sent: number
  failed: number
  skipped: number
  heldOut: number
  tasks: number
  /** Sent emails whose link was restored at least once. */
  clicked: number
  /** Orders attributed to this step's email. */
  recovered: number
  /** …after a click on the email's link. */
  recoveredAfterClick: number
  /** …without a click: the person came back another way ("ordered anyway" after the email). */
  recoveredWithoutClick: number
  /** Real order totals of `recovered`, shop currency, minor units. */
  revenue: number
}

export interface VariantReport {
  id: string
  holdout: boolean
  /** People assigned in the period. */
  assigned: number
  sent: number
  heldOut: number
  clicked: number
  /** Orders attributed to this variant (to an email, or to a holdout's would-have-sent). */
  recovered: number
  revenue: number
  /** People who ordered after an email or would-be email of this variant. */
  converted: number
  /** `converted / assigned`. */
  conversionRate: number
  /** 95 % Wilson score interval of `conversionRate`. */
  interval: [number, number]
  revenuePerRecipient: number
  /** Relative change of `conversionRate` vs the control (`null` for the control itself). */
  uplift: number | null
  /** Two-sided two-proportion z-test vs the control (`null` for the control). */
  pValue: number | null
}

export interface ExperimentReport {
  id: string
  step: string | null
  /** The reference: the holdout when there is one, else the first variant. */
  control: string
  /** The variant that is significantly better (Bonferroni-corrected 5 %), else `null`. */
  winner: string | null
  /** The smallest corrected p-value of the comparisons with the control (`null` without data). */
  pValue: number | null
  /**
   * Why there is a winner or not, in words: `winner`, `no significant difference`, or
   * `too few people` (see `MIN_PEOPLE_PER_VARIANT` and `MIN_OUTCOMES`).
   */
  verdict: string
  variants: VariantReport[]
}

/**
 * Minimum sample before a winner may be declared. The z-test leans on a normal approximation
 * that is poor with few people or few conversions: each compared variant needs at least this many
 * people, and at least `MIN_OUTCOMES` conversions and non-conversions.
 */
export const MIN_PEOPLE_PER_VARIANT = 100
export const MIN_OUTCOMES = 5
/** Family-wise significance level; comparisons with the control are Bonferroni-corrected. */
export const ALPHA = 0.05

/** What the decision needs of a variant. */
export interface VariantCounts {
  id: string
  holdout: boolean
  assigned: number
  converted: number
}

/**
 * Compares every variant with the control (the holdout, else the first variant): two-sided
 * two-proportion z-tests, Bonferroni-corrected, and a winner only when significant at `ALPHA`
 * with enough people on both sides. Without a holdout the first variant may also win, when it
 * beats every other variant significantly.
 */
export function decideExperiment<V extends VariantCounts>(variants: V[]): {
  control: V
  winner: string | null
  pValue: number | null
  verdict: string
  comparisons: Map<V, { uplift: number | null; pValue: number }>
} {
  const rate = (v: VariantCounts) => (v.assigned === 0 ? 0 : v.converted / v.assigned)
  const enough = (v: VariantCounts) => v.assigned >= MIN_PEOPLE_PER_VARIANT && v.converted >= MIN_OUTCOMES && v.assigned - v.converted >= MIN_OUTCOMES
  const control = variants.find((v) => v.holdout) ?? variants[0]!
  const others = variants.filter((v) => v !== control)
  const comparisons = new Map<V, { uplift: number | null; pValue: number }>()
  let smallest: number | null = null
  for (const v of others) {
    const pValue = twoProportionPValue(v.converted, v.assigned, control.converted, control.assigned)
    comparisons.set(v, { uplift: rate(control) === 0 ? null : (rate(v) - rate(control)) / rate(control), pValue })
    if (v.assigned > 0 && control.assigned > 0) smallest = Math.min(smallest ?? 1, Math.min(1, pValue * others.length))
  }
  if (others.length === 0) return { control, winner: null, pValue: null, verdict: 'a single variant: nothing to compare', comparisons }
  const small = [control, ...others].filter((v) => !enough(v))
  if (small.length > 0) {
    return {
      control, winner: null, pValue: smallest, comparisons,
      verdict: `too few people: each variant needs ${MIN_PEOPLE_PER_VARIANT} people and ${MIN_OUTCOMES} conversions and non-conversions (short: ${small.map((v) => v.id).join(', ')})`,
    }
  }
  const significant = (v: V) => Math.min(1, comparisons.get(v)!.pValue * others.length) < ALPHA
  const better = others.filter((v) => significant(v) && rate(v) > rate(control)).sort((a, b) => rate(b) - rate(a))
  if (better.length > 0) return { control, winner: better[0]!.id, pValue: smallest, verdict: 'winner', comparisons }
  if (!control.holdout && others.every((v) => significant(v) && rate(control) > rate(v))) {
    return { control, winner: control.id, pValue: smallest, verdict: 'winner', comparisons }
  }
  return { control, winner: null, pValue: smallest, verdict: 'no significant difference', comparisons }
}

export interface Report {
  since: Date | null
  until: Date
  currency: string
  totals: Omit<StepReport, 'id'> & {
    hardBounces: number
    complaints: number
    /** complaints / sent (keep it under 0.001). */
    complaintRate: number
    /** Attributed revenue of orders in other currencies, by currency. */
    otherCurrencies: Record<string, number>
  }
  steps: StepReport[]
  experiments: ExperimentReport[]
}

const Z95 = 1.959963984540054

/** Wilson score interval: well-behaved for small samples and rates near 0 or 1. */
export function wilsonInterval(successes: number, trials: number, z = Z95): [number, number] {
  if (trials === 0) return [0, 0]
  const p = successes / trials
  const z2 = z * z
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials)
  return [Math.max(0, centre - half), Math.min(1, centre + half)]
}

/** Standard normal CDF through the Chebyshev fit of erfc from Numerical Recipes (fractional error < 1.2e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x) / Math.SQRT2)
  const y = t * Math.exp(-((x * x) / 2) - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
  return x >= 0 ? 1 - y / 2 : y / 2
}

/** Two-sided p-value of the pooled two-proportion z-test; 1 when it cannot be computed. */
export function twoProportionPValue(x1: number, n1: number, x2: number, n2: number): number {
  if (n1 === 0 || n2 === 0) return 1
  const pooled = (x1 + x2) / (n1 + n2)
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
  if (se === 0) return 1
  const z = (x1 / n1 - x2 / n2) / se
  return Math.min(1, 2 * (1 - normalCdf(Math.abs(z))))
}

function emptyStep(id: string): StepReport {
  return { id, sent: 0, failed: 0, skipped: 0, heldOut: 0, tasks: 0, clicked: 0, recovered: 0, recoveredAfterClick: 0, recoveredWithoutClick: 0, revenue: 0 }
}

function countSend(target: Omit<StepReport, 'id'>, send: SendRecord): void {
  if (send.outcome === 'sent') {
    target.sent++
    if (send.clickedAt !== null) target.clicked++
  } else if (send.outcome === 'failed') target.failed++
  else if (send.outcome === 'skipped') target.skipped++
  else if (send.outcome === 'held-out') target.heldOut++
  else if (send.outcome === 'task') target.tasks++
}

export function parseReportOptions(input: unknown, now: Date): { since: Date | null; until: Date } {
  // A send recorded at the current instant belongs in a report asked for at that instant.
  const justAfterNow = new Date(now.getTime() + 1)
  if (input === undefined) return { since: null, until: justAfterNow }
  if (!isPlainObject(input)) throw failInput('options', 'must be an object { since?, until? }')
  knownKeys(input, ['since', 'until'], '', failInput)
  const since = input.since === undefined ? null : dateOf(input.since, 'since', failInput)
  const until = input.until === undefined ? justAfterNow : dateOf(input.until, 'until', failInput)
  if (since !== null && since.getTime() >= until.getTime()) throw failInput('since', 'must be before until')
  return { since, until }
}

export async function buildReport(core: Core, options: ReportOptions): Promise<Report> {
  const { since, until } = parseReportOptions(options, core.clock.now())
  const { shop, sequence, experiments } = core.options
  return computeReport(core.store, {
    currency: shop.currency,
    steps: sequence.map((s) => s.id),
    experiments: experiments.map((e) => ({ id: e.id, step: e.step, variants: e.variants.map((v) => ({ id: v.id, holdout: v.holdout })) })),
  }, { since, until })
}

/** What a report needs to know besides the store: the shop currency, step and experiment ids. */
export interface ReportConfig {
  currency: string
  /** Step ids in sequence order (steps seen only in the data are added after them). */
  steps: string[]
  experiments: { id: string; step: string | null; variants: { id: string; holdout: boolean }[] }[]
}

/**
 * Reads the experiments from the store alone (for `relance report`, which has no engine
 * options): ids and variants from assignments and send records, a variant whose sends are
 * `held-out` is the holdout. Variants are listed in order of first appearance.
 */
export async function deriveReportConfig(store: Store, currency: string, range: { since: Date | null; until: Date }): Promise<ReportConfig> {
  const steps: string[] = []
  const experiments = new Map<string, { id: string; step: string | null; variants: Map<string, { id: string; holdout: boolean }>; steps: Set<string> }>()
  const experiment = (id: string) => {
    let e = experiments.get(id)
    if (e === undefined) experiments.set(id, (e = { id, step: null, variants: new Map(), steps: new Set() }))
    return e
  }
  const scanRange = { since: range.since ?? undefined, until: range.until }
  for await (const send of store.scanSends(scanRange)) {
    if (!steps.includes(send.step)) steps.push(send.step)
    if (send.experimentId === null || send.variant === null) continue
    const e = experiment(send.experimentId)
    e.steps.add(send.step)
    const v = e.variants.get(send.variant) ?? { id: send.variant, holdout: false }
    if (send.outcome === 'held-out') v.holdout = true
    e.variants.set(send.variant, v)
  }
  for await (const assignment of store.scanAssignments(scanRange)) {
    const e = experiment(assignment.experimentId)
    if (!e.variants.has(assignment.variant)) e.variants.set(assignment.variant, { id: assignment.variant, holdout: false })
  }
  return {
    currency,
    steps,
    experiments: [...experiments.values()].map((e) => ({ id: e.id, step: e.steps.size === 1 ? [...e.steps][0]! : null, variants: [...e.variants.values()] })),
  }
}

/** The report of a store's contents in a period. */
export async function computeReport(store: Store, config: ReportConfig, period: { since: Date | null; until: Date }): Promise<Report> {
  const { since, until } = period
  const range = { since: since ?? undefined, until }
  const shop = { currency: config.currency }
  const { experiments } = config
  const steps = new Map(config.steps.map((id) => [id, emptyStep(id)]))
  const totals: Report['totals'] = {
    ...emptyStep(''), hardBounces: 0, complaints: 0, complaintRate: 0, otherCurrencies: {},
  }
  delete (totals as Partial<StepReport>).id

  const variantStats = new Map<string, VariantReport & { people: Set<string>; convertedPeople: Set<string> }>()
  const variantKey = (experimentId: string, variant: string) => `${experimentId}\u0000${variant}`
  for (const experiment of experiments) {
    for (const v of experiment.variants) {
      variantStats.set(variantKey(experiment.id, v.id), {
        id: v.id, holdout: v.holdout, assigned: 0, sent: 0, heldOut: 0, clicked: 0, recovered: 0, revenue: 0, converted: 0,
        conversionRate: 0, interval: [0, 0], revenuePerRecipient: 0, uplift: null, pValue: null,
        people: new Set(), convertedPeople: new Set(),
      })
    }
  }

  for await (const send of store.scanSends(range)) {
    const step = steps.get(send.step) ?? emptyStep(send.step)
    steps.set(send.step, step)
    countSend(step, send)
    countSend(totals, send)
    if (send.experimentId !== null && send.variant !== null) {
      const stats = variantStats.get(variantKey(send.experimentId, send.variant))
      if (stats !== undefined) {
        if (send.outcome === 'sent') stats.sent++
        if (send.outcome === 'sent' && send.clickedAt !== null) stats.clicked++
        if (send.outcome === 'held-out') stats.heldOut++
      }
    }
  }
  for await (const assignment of store.scanAssignments(range)) {
    variantStats.get(variantKey(assignment.experimentId, assignment.variant))?.people.add(assignment.profileId)
  }
  for await (const order of store.scanOrders(range)) {
    const a = order.attribution
    if (a === null) continue
    const inShopCurrency = order.currency === shop.currency
    if (a.outcome === 'sent') {
      const step = steps.get(a.step) ?? emptyStep(a.step)
      steps.set(a.step, step)
      for (const target of [step, totals]) {
        target.recovered++
        if (a.clicked) target.recoveredAfterClick++
        else target.recoveredWithoutClick++
        if (inShopCurrency) target.revenue += order.total
      }
      if (!inShopCurrency) totals.otherCurrencies[order.currency] = (totals.otherCurrencies[order.currency] ?? 0) + order.total
    }
    if (a.experimentId !== null && a.variant !== null) {
      const stats = variantStats.get(variantKey(a.experimentId, a.variant))
      if (stats !== undefined) {
        stats.recovered++
        if (inShopCurrency) stats.revenue += order.total
        stats.convertedPeople.add(order.profileId)
      }
    }
  }
  for await (const entry of store.scanSuppressions(range)) {
    if (entry.reason === 'bounce') totals.hardBounces++
    if (entry.reason === 'complaint') totals.complaints++
  }
  totals.complaintRate = totals.sent === 0 ? 0 : totals.complaints / totals.sent

  const experimentReports = experiments.map((experiment): ExperimentReport => {
    const variants = experiment.variants.map((v) => {
      const stats = variantStats.get(variantKey(experiment.id, v.id))!
      // People who converted but were assigned before the period still count as assigned here.
      for (const person of stats.convertedPeople) stats.people.add(person)
      stats.assigned = stats.people.size
      stats.converted = stats.convertedPeople.size
      stats.conversionRate = stats.assigned === 0 ? 0 : stats.converted / stats.assigned
      stats.interval = wilsonInterval(stats.converted, stats.assigned)
      stats.revenuePerRecipient = stats.assigned === 0 ? 0 : stats.revenue / stats.assigned
      return stats
    })
    const decision = decideExperiment(variants)
    for (const [v, comparison] of decision.comparisons) {
      v.uplift = comparison.uplift
      v.pValue = comparison.pValue
    }
    return {
      id: experiment.id,
      step: experiment.step,
      control: decision.control.id,
      winner: decision.winner,
      pValue: decision.pValue,
      verdict: decision.verdict,
      variants: variants.map(({ people: _p, convertedPeople: _c, ...rest }) => rest),
    }
  })

  return { since, until, currency: shop.currency, totals, steps: [...steps.values()], experiments: experimentReports }
}
