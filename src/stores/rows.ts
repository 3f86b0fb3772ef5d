/**
 * Row ↔ record mapping shared by the SQL adapters. Column names are the same in SQLite and
 * PostgreSQL; only the representation of times (epoch milliseconds vs `timestamptz`) and of JSON
 * (text vs `jsonb`) differ, so each adapter passes its own readers.
 */
import type {
  AssignmentRecord, CartRecord, JobRecord, OrderRecord, ProfileRecord, SendRecord, SuppressionRecord,
} from './types.js'

export type Row = Record<string, unknown>

export interface Readers {
  /** A stored time (never null) to a Date. */
  time(value: unknown): Date
  /** A stored JSON value to its JS value. */
  json(value: unknown): unknown
}

const str = (value: unknown) => (value === null || value === undefined ? null : String(value))

export function rowMappers({ time, json }: Readers) {
  const maybeTime = (value: unknown) => (value === null || value === undefined ? null : time(value))
  return {
    profile(row: Row): ProfileRecord {
      return {
        id: String(row.id),
        customerId: str(row.customer_id),
        email: str(row.email),
        firstName: str(row.first_name),
        locale: str(row.locale),
        timeZone: str(row.time_zone),
        marketing: {
          state: row.marketing_state as ProfileRecord['marketing']['state'],
          at: maybeTime(row.marketing_at),
          source: str(row.marketing_source),
        },
        hasPurchased: Boolean(row.has_purchased),
        lastOrderAt: maybeTime(row.last_order_at),
        createdAt: time(row.created_at),
        updatedAt: time(row.updated_at),
      }
    },
    cart(row: Row): CartRecord {
      return {
        id: String(row.id),
        profileId: String(row.profile_id),
        deviceId: str(row.device_id),
        items: json(row.items) as CartRecord['items'],
        currency: String(row.currency),
        status: row.status as CartRecord['status'],
        activityAt: time(row.activity_at),
        createdAt: time(row.created_at),
        updatedAt: time(row.updated_at),
      }
    },
    job(row: Row): JobRecord {
      return {
        cartId: String(row.cart_id),
        profileId: String(row.profile_id),
        state: row.state as JobRecord['state'],
        dueAt: time(row.due_at),
        owner: str(row.owner),
        leaseUntil: maybeTime(row.lease_until),
        attempts: Number(row.attempts),
        rev: Number(row.rev),
        note: str(row.note),
      }
    },
    send(row: Row): SendRecord {
      const incentive = row.incentive === null || row.incentive === undefined
        ? null
        : (json(row.incentive) as { kind: string; value: number; code: string; expiresAt: number | string | null })
      return {
        id: String(row.id),
        cartId: String(row.cart_id),
        profileId: String(row.profile_id),
        step: String(row.step),
        stepIndex: Number(row.step_index),
        experimentId: str(row.experiment_id),
        variant: str(row.variant),
        outcome: row.outcome as SendRecord['outcome'],
        messageId: str(row.message_id),
        incentive: incentive === null
          ? null
          : {
              kind: incentive.kind as NonNullable<SendRecord['incentive']>['kind'],
              value: incentive.value,
              code: incentive.code,
              expiresAt: incentive.expiresAt === null ? null : new Date(incentive.expiresAt),
            },
        subtotal: Number(row.subtotal),
        currency: String(row.currency),
        reason: str(row.reason),
        createdAt: time(row.created_at),
        sentAt: maybeTime(row.sent_at),
        clickedAt: maybeTime(row.clicked_at),
      }
    },
    order(row: Row): OrderRecord {
      return {
        id: String(row.id),
        profileId: String(row.profile_id),
        cartId: str(row.cart_id),
        total: Number(row.total),
        currency: String(row.currency),
        at: time(row.at),
        attribution: row.attribution === null || row.attribution === undefined
          ? null
          : (json(row.attribution) as OrderRecord['attribution']),
      }
    },
    assignment(row: Row): AssignmentRecord {
      return { experimentId: String(row.experiment_id), profileId: String(row.profile_id), variant: String(row.variant), at: time(row.at) }
    },
    suppression(row: Row): SuppressionRecord {
      return { key: String(row.key), reason: row.reason as SuppressionRecord['reason'], at: time(row.at) }
    },
  }
}

/** The incentive as stored in JSON: the expiry in epoch milliseconds so it survives both backends. */
export function incentiveJson(incentive: SendRecord['incentive']): string | null {
  if (incentive === null) return null
  return JSON.stringify({ kind: incentive.kind, value: incentive.value, code: incentive.code, expiresAt: incentive.expiresAt?.getTime() ?? null })
}

/** Order of the keyset pagination of `scan*`: records in pages, never one long-held cursor. */
export const SCAN_PAGE = 500
