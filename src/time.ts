/** Time arithmetic in a person's own zone: step delays, quiet hours, caps, backoff. */
import { createHash } from 'node:crypto'
import { TZDate, tzOffset } from '@date-fns/tz'
import { add, type Duration } from 'date-fns'
import { BoundedMap } from './bounded-map.js'

/**
 * Adds a Duration the way people read it: calendar parts (years, months, weeks, days) move the
 * wall clock of `timeZone` (1 day after 10:00 is 10:00, even across a DST change: 23 or 25 h),
 * clock parts (hours, minutes, seconds) are elapsed time (24 hours is always 24 hours).
 */
export function addDuration(date: Date, duration: Duration, timeZone: string): Date {
  const { hours = 0, minutes = 0, seconds = 0, ...calendar } = duration
  let time = date.getTime()
  if (Object.values(calendar).some((value) => value !== undefined && value !== 0)) {
    time = addWholeDays(time, calendar, timeZone) ?? add(new TZDate(time, timeZone), calendar).getTime()
  }
  return new Date(time + ((hours * 60 + minutes) * 60 + seconds) * 1000)
}

const DAY = 86_400_000

/**
 * The common case of `addDuration` without building a TZDate (a dozen time-zone lookups): whole
 * days or weeks move the wall clock by exactly that many 24-hour days when the zone's UTC offset
 * is the same at the start and for a day on either side of the end (no change in between, and
 * the wall time reached is neither skipped nor repeated). Null otherwise: months, years, or a
 * change nearby, left to the calendar arithmetic.
 */
function addWholeDays(time: number, calendar: Duration, timeZone: string): number | null {
  const { days = 0, weeks = 0, ...rest } = calendar
  if (Object.values(rest).some((value) => value !== undefined && value !== 0)) return null
  if (!Number.isInteger(days) || !Number.isInteger(weeks)) return null
  const moved = time + (weeks * 7 + days) * DAY
  const offset = offsetAt(timeZone, time)
  const steady = offset === offsetAt(timeZone, moved - DAY) && offset === offsetAt(timeZone, moved + DAY)
  return steady ? moved : null
}

const HOUR = 3_600_000
/** UTC offsets by zone and hour; only hours whose two ends agree are kept. */
const offsets = new BoundedMap<string, number>()

/**
 * The zone's UTC offset at `time` (minutes, as `tzOffset`), remembered per hour: an hour with the
 * same offset at its first and last millisecond has it throughout (no zone changes its offset
 * twice within an hour), so the next lookups in that hour cost a map read instead of an
 * `Intl.DateTimeFormat` call.
 */
function offsetAt(timeZone: string, time: number): number {
  const hour = Math.floor(time / HOUR)
  const key = `${timeZone} ${hour}`
  const known = offsets.get(key)
  if (known !== undefined) return known
  const first = tzOffset(timeZone, new Date(hour * HOUR))
  if (first !== tzOffset(timeZone, new Date(hour * HOUR + HOUR - 1))) return tzOffset(timeZone, new Date(time))
  offsets.set(key, first)
  return first
}

export function subtractDuration(date: Date, duration: Duration, timeZone: string): Date {
  const negative: Duration = {}
  for (const [key, value] of Object.entries(duration) as [keyof Duration, number][]) negative[key] = -value
  return addDuration(date, negative, timeZone)
}

/**
 * When `now` falls inside the quiet window (minutes after local midnight, `start` inclusive,
 * `end` exclusive, possibly wrapping past midnight) of `timeZone`, the instant the window ends;
 * otherwise null. The end is built on the local calendar, so it stays 08:00 local across DST
 * changes; a wall time that does not exist that day (spring gap) moves forward, as clocks do.
 */
export function quietUntil(now: Date, window: { start: number; end: number }, timeZone: string): Date | null {
  const local = new TZDate(now.getTime(), timeZone)
  const minutes = local.getHours() * 60 + local.getMinutes()
  const inside = window.start < window.end
    ? minutes >= window.start && minutes < window.end
    : minutes >= window.start || minutes < window.end
  if (!inside) return null
  const endOn = (dayOffset: number) =>
    new TZDate(local.getFullYear(), local.getMonth(), local.getDate() + dayOffset, Math.floor(window.end / 60), window.end % 60, 0, 0, timeZone)
  let end = endOn(0)
  if (end.getTime() <= now.getTime()) end = endOn(1)
  return new Date(end.getTime())
}

/**
 * With `times` the moments of earlier sends to this person, the instant a new send is allowed
 * under "at most `max` per `per`", or null when it is allowed now.
 */
export function capUntil(now: Date, times: Date[], cap: { max: number; per: Duration }, timeZone: string): Date | null {
  const windowStart = subtractDuration(now, cap.per, timeZone).getTime()
  const recent = times.map((t) => t.getTime()).filter((t) => t > windowStart && t <= now.getTime()).sort((a, b) => a - b)
  if (recent.length < cap.max) return null
  // The send becomes possible once enough of the recent ones have left the window.
  const oldestThatMustLeave = recent[recent.length - cap.max]!
  return addDuration(new Date(oldestThatMustLeave), cap.per, timeZone)
}

/** A number in [0, 1) derived from a string: reproducible "randomness" (jitter, assignment). */
export function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32
}

/** Exponential backoff with ±20 % jitter, seeded so that tests are reproducible. */
export function backoffDelay(attempt: number, base: Duration, max: Duration, seed: string): number {
  const raw = Math.min(approximateMs(base) * 2 ** Math.max(0, attempt - 1), approximateMs(max))
  return Math.round(raw * (0.8 + 0.4 * unitHash(`${seed}:${attempt}`)))
}

/** For ordering checks only: months as 30 days, years as 365. Real arithmetic uses date-fns. */
export function approximateMs(d: Duration): number {
  return ((((d.years ?? 0) * 365 + (d.months ?? 0) * 30 + (d.weeks ?? 0) * 7 + (d.days ?? 0)) * 24 + (d.hours ?? 0)) * 60 + (d.minutes ?? 0)) * 60_000 + (d.seconds ?? 0) * 1000
}
