/**
 * Experiment assignment. A person's variant is a deterministic hash of experiment id + profile
 * id (reproducible, no randomness at send time), recorded in the store the first time the
 * person reaches the experiment, so that later weight changes never reshuffle people.
 */
import type { Core } from './core.js'
import type { ResolvedExperiment, ResolvedIncentive, ResolvedStep, ResolvedVariant } from './options.js'
import type { Duration } from 'date-fns'
import { unitHash } from './time.js'

export function experimentFor(core: Core, step: ResolvedStep): ResolvedExperiment | null {
  return core.options.experiments.find((e) => e.step === step.id || e.step === null) ?? null
}

/** The variant the weights give this profile (without looking at the store). */
export function hashVariant(experiment: ResolvedExperiment, profileId: string): ResolvedVariant {
  const total = experiment.variants.reduce((sum, v) => sum + v.weight, 0)
  let point = unitHash(`${experiment.id}\u0000${profileId}`) * total
  for (const variant of experiment.variants) {
    point -= variant.weight
    if (point < 0) return variant
  }
  return experiment.variants[experiment.variants.length - 1]!
}

export interface Assignment {
  experiment: ResolvedExperiment
  variant: ResolvedVariant
  /** Whether it is already in the store. */
  recorded: boolean
}

/** The stored assignment, else the hashed one (not recorded yet). */
export async function lookupAssignment(core: Core, experiment: ResolvedExperiment, profileId: string): Promise<Assignment> {
  const stored = await core.store.getAssignment(experiment.id, profileId)
  const variant = stored === null ? undefined : experiment.variants.find((v) => v.id === stored.variant)
  // A stored variant that no longer exists in the options (removed by the shop) falls back to the hash.
  if (variant !== undefined) return { experiment, variant, recorded: true }
  return { experiment, variant: hashVariant(experiment, profileId), recorded: false }
}

/** Records the assignment if needed; the store's first writer wins, and its answer is used. */
export async function recordAssignment(core: Core, assignment: Assignment, profileId: string, at: Date): Promise<Assignment> {
  if (assignment.recorded) return assignment
  const stored = await core.store.assign({ experimentId: assignment.experiment.id, profileId, variant: assignment.variant.id, at })
  const variant = assignment.experiment.variants.find((v) => v.id === stored.variant) ?? assignment.variant
  return { experiment: assignment.experiment, variant, recorded: true }
}

/** A step as one person receives it: the variant's changes applied. */
export interface EffectiveStep {
  step: ResolvedStep
  assignment: Assignment | null
  template: string | null
  subject: string | null
  after: Duration
  incentive: ResolvedIncentive | null
  holdout: boolean
}

export function effectiveStep(step: ResolvedStep, assignment: Assignment | null): EffectiveStep {
  const variant = assignment?.variant ?? null
  return {
    step,
    assignment,
    template: variant?.template ?? step.template,
    subject: variant?.subject ?? step.subject,
    after: variant?.after ?? step.after,
    incentive: variant === null || variant.incentive === undefined ? step.incentive : variant.incentive,
    holdout: variant?.holdout ?? false,
  }
}
