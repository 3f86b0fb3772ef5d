/**
 * `report()`: what the sequence did and what it earned, per step and per experiment variant.
 * Revenue is the real order total (integer minor units of the shop currency; orders in other
 * currencies are listed apart, never converted).
 */
import type { Core } from './core.js'
import type { SendRecord } from './stores/types.js'
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
  variants: VariantReport[]
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
  const range = { since: since ?? undefined, until }
  const { shop, sequence, experiments } = core.options
  const steps = new Map(sequence.map((s) => [s.id, emptyStep(s.id)]))
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

  for await (const send of core.store.scanSends(range)) {
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
  for await (const assignment of core.store.scanAssignments(range)) {
    variantStats.get(variantKey(assignment.experimentId, assignment.variant))?.people.add(assignment.profileId)
  }
  for await (const order of core.store.scanOrders(range)) {
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
  for await (const entry of core.store.scanSuppressions(range)) {
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
    const control = variants.find((v) => v.holdout) ?? variants[0]!
    const others = variants.filter((v) => v !== control)
    let best: { variant: VariantReport; p: number } | null = null
    let smallest: number | null = null
    for (const v of others) {
      v.uplift = control.conversionRate === 0 ? null : (v.conversionRate - control.conversionRate) / control.conversionRate
      v.pValue = twoProportionPValue(v.converted, v.assigned, control.converted, control.assigned)
      const corrected = Math.min(1, v.pValue * others.length)
      if (v.assigned > 0 && control.assigned > 0) smallest = smallest === null ? corrected : Math.min(smallest, corrected)
      if (corrected < 0.05 && v.conversionRate > control.conversionRate && (best === null || v.conversionRate > best.variant.conversionRate)) {
        best = { variant: v, p: corrected }
      }
    }
    // Without a holdout the first variant is only a reference: it wins when it beats every other one.
    let winner = best?.variant.id ?? null
    if (winner === null && !control.holdout && others.length > 0 &&
      others.every((v) => v.pValue !== null && Math.min(1, v.pValue * others.length) < 0.05 && control.conversionRate > v.conversionRate)) {
      winner = control.id
    }
    return {
      id: experiment.id,
      step: experiment.step,
      control: control.id,
      winner,
      pValue: smallest,
      variants: variants.map(({ people: _p, convertedPeople: _c, ...rest }) => rest),
    }
  })

  return { since, until, currency: shop.currency, totals, steps: [...steps.values()], experiments: experimentReports }
}
