import { TZDate } from '@date-fns/tz'
import { add } from 'date-fns'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { addDuration, quietUntil } from '../src/time.js'
import { ITEMS, consentingShopper, setup } from './helpers/engine.js'

const QUIET = { start: 21 * 60, end: 8 * 60 }

describe('quiet hours across the Paris DST changes', () => {
  it('spring forward (2026-03-29): the window ends at 08:00 CEST = 06:00 UTC', () => {
    expect(quietUntil(new Date('2026-03-28T20:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-03-29T06:00:00.000Z')
    // Inside the missing hour's night, after the change.
    expect(quietUntil(new Date('2026-03-29T01:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-03-29T06:00:00.000Z')
    // 06:00 UTC is 08:00 local: awake.
    expect(quietUntil(new Date('2026-03-29T06:00:00Z'), QUIET, 'Europe/Paris')).toBeNull()
    // The day before the change, 08:00 CET is 07:00 UTC.
    expect(quietUntil(new Date('2026-03-28T06:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-03-28T07:00:00.000Z')
  })

  it('fall back (2026-10-25): the window ends at 08:00 CET = 07:00 UTC', () => {
    expect(quietUntil(new Date('2026-10-24T20:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-10-25T07:00:00.000Z')
    // 02:30 local happens twice that night; both are quiet.
    expect(quietUntil(new Date('2026-10-25T00:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-10-25T07:00:00.000Z')
    expect(quietUntil(new Date('2026-10-25T01:30:00Z'), QUIET, 'Europe/Paris')?.toISOString()).toBe('2026-10-25T07:00:00.000Z')
    expect(quietUntil(new Date('2026-10-25T06:59:00Z'), QUIET, 'Europe/Paris')).not.toBeNull()
    expect(quietUntil(new Date('2026-10-25T07:00:00Z'), QUIET, 'Europe/Paris')).toBeNull()
  })

  it('a window ending inside the spring gap ends when clocks jump (02:30 does not exist: 03:30 CEST)', () => {
    const window = { start: 30, end: 2 * 60 + 30 } // 00:30–02:30
    const until = quietUntil(new Date('2026-03-28T23:45:00Z'), window, 'Europe/Paris') // 00:45 CET
    expect(until).not.toBeNull()
    // Whatever the library's gap rule, the end is after the jump and at most an hour later.
    expect(until!.getTime()).toBeGreaterThanOrEqual(Date.parse('2026-03-29T01:00:00Z'))
    expect(until!.getTime()).toBeLessThanOrEqual(Date.parse('2026-03-29T01:30:00Z'))
  })

  it('uses the shopper zone: New York across its own change (2026-11-01)', () => {
    // 2026-11-01 is the US fall-back: 08:00 EST = 13:00 UTC (12:00 UTC the day before, EDT).
    expect(quietUntil(new Date('2026-11-01T05:00:00Z'), QUIET, 'America/New_York')?.toISOString()).toBe('2026-11-01T13:00:00.000Z')
    expect(quietUntil(new Date('2026-10-31T05:00:00Z'), QUIET, 'America/New_York')?.toISOString()).toBe('2026-10-31T12:00:00.000Z')
  })
})

describe('delays across DST', () => {
  it('{ days: 1 } keeps the wall clock (23 h across spring forward, 25 h across fall back); { hours: 24 } is 24 h', () => {
    const springDay = addDuration(new Date('2026-03-28T09:00:00Z'), { days: 1 }, 'Europe/Paris')
    expect(springDay.toISOString()).toBe('2026-03-29T08:00:00.000Z') // 10:00 CET → 10:00 CEST
    const fallDay = addDuration(new Date('2026-10-24T08:00:00Z'), { days: 1 }, 'Europe/Paris')
    expect(fallDay.toISOString()).toBe('2026-10-25T09:00:00.000Z') // 10:00 CEST → 10:00 CET
    expect(addDuration(new Date('2026-03-28T09:00:00Z'), { hours: 24 }, 'Europe/Paris').toISOString()).toBe('2026-03-29T09:00:00.000Z')
  })

  it('whole days and weeks, computed without a TZDate when the offset does not change, equal the calendar definition', () => {
    // Instants clustered around DST changes (and a zone that skipped a whole day), by the minute.
    const changes = [
      ['Europe/Paris', '2026-03-29T01:00:00Z'], ['Europe/Paris', '2026-10-25T01:00:00Z'],
      ['America/New_York', '2026-03-08T07:00:00Z'], ['America/New_York', '2026-11-01T06:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T15:00:00Z'], ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'],
      ['Pacific/Apia', '2011-12-30T10:00:00Z'], ['Asia/Tokyo', '2026-06-01T00:00:00Z'], ['UTC', '2026-01-01T00:00:00Z'],
    ] as const
    const reference = (time: number, calendar: { days?: number; weeks?: number }, zone: string) =>
      add(new TZDate(time, zone), calendar).getTime()
    fc.assert(fc.property(
      fc.constantFrom(...changes),
      // Minutes around the change: mostly within three days of it, where a day lands on it.
      fc.oneof(fc.integer({ min: -3 * 24 * 60, max: 3 * 24 * 60 }), fc.integer({ min: -40 * 24 * 60, max: 40 * 24 * 60 })),
      fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -30, max: 30 })),
      fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 })),
      ([zone, change], minutes, days, weeks) => {
        const time = new Date(change).getTime() + minutes * 60_000
        expect(addDuration(new Date(time), { days, weeks }, zone).getTime()).toBe(reference(time, { days, weeks }, zone))
      },
    ), { numRuns: 20_000 })
    // The repeated hour of the fall-back day: 02:30 the day before, plus one day, is the second
    // 02:30 (CET), as the calendar arithmetic says, not the 24-hour guess (CEST).
    expect(addDuration(new Date('2026-10-24T00:30:00Z'), { days: 1 }, 'Europe/Paris').toISOString()).toBe('2026-10-25T01:30:00.000Z')
  })

  it('the engine sends a { days: 1 } step at the same local time the next day, across the change', async () => {
    const { relance, clock, transport } = setup({
      quietHours: { start: '21:00', end: '08:00' },
      frequencyCap: false,
      sequence: [{ after: { hours: 1 }, template: 'reminder' }, { after: { days: 1 }, template: 'reassurance' }],
    }, '2026-03-28T09:00:00Z') // 10:00 Paris, the day before the change
    const sentAt: string[] = []
    relance.on('sent', (e) => sentAt.push(e.at.toISOString()))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    for (const at of ['2026-03-28T10:00:00Z', '2026-03-29T07:59:00Z', '2026-03-29T08:00:00Z']) {
      clock.set(at)
      await relance.tick()
    }
    expect(sentAt).toEqual(['2026-03-28T10:00:00.000Z', '2026-03-29T08:00:00.000Z'])
    expect(transport.messages).toHaveLength(2)
  })

  it('the engine defers an evening reminder to 08:00 local on the fall-back morning', async () => {
    const { relance, clock } = setup({ quietHours: { start: '21:00', end: '08:00' } }, '2026-10-24T19:30:00Z') // 21:30 CEST
    const sentAt: string[] = []
    relance.on('sent', (e) => sentAt.push(e.at.toISOString()))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    for (const at of ['2026-10-24T20:30:00Z', '2026-10-25T06:30:00Z', '2026-10-25T07:00:00Z']) {
      clock.set(at)
      await relance.tick()
    }
    expect(sentAt).toEqual(['2026-10-25T07:00:00.000Z'])
  })
})
