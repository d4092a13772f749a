import {
  type EndCode,
  type HeaderList,
  type HttpMethod,
  originOf,
  type RetryOn,
  type Task,
  type TaskId,
  type TaskKind,
  type TaskStatus,
  type WaitReason,
} from '@request-tasker/domain'
import { callbacksFromJson } from './secret-columns.js'

/** A row of `tasks` as pg returns it. */
export type TaskRow = {
  id: TaskId
  owner_key_id: string
  method: HttpMethod
  url: string
  request_headers: HeaderList
  request_body: Buffer | null
  timeout_ms: number
  status: TaskStatus
  attempts: number
  budget_from: number
  max_attempts: number
  backoff_base_ms: number
  backoff_max_ms: number
  retry_on: RetryOn
  run_at: Date | null
  wait_reason: WaitReason | null
  flow_key: string | null
  kind: TaskKind | null
  parent_id: TaskId | null
  callbacks: Parameters<typeof callbacksFromJson>[0]
  sign: boolean | null
  expires_at: Date | null
  end_code: EndCode | null
  traceparent: string | null
  created_at: Date
  updated_at: Date
}

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    ownerKeyId: row.owner_key_id,
    request: {
      method: row.method,
      url: row.url,
      headers: row.request_headers,
      body: row.request_body === null ? null : bytesOf(row.request_body),
      timeoutMs: row.timeout_ms,
    },
    // Rows of earlier releases have none of the columns below: requests, unsigned, without callback or deadline.
    kind: row.kind ?? 'request',
    parentId: row.parent_id,
    callbacks: callbacksFromJson(row.callbacks),
    sign: row.sign ?? false,
    expiresAt: row.expires_at,
    endCode: row.end_code,
    // Rows of earlier releases have no flow key: they count against their origin, as they would have.
    flowKey: row.flow_key ?? originOf(row.url),
    status: row.status,
    attempts: row.attempts,
    budgetFrom: row.budget_from,
    retry: {
      maxAttempts: row.max_attempts,
      backoff: { baseMs: row.backoff_base_ms, maxMs: row.backoff_max_ms },
      retryOn: row.retry_on,
    },
    runAt: row.run_at,
    // Rows of the previous release have no reason: it scheduled only retries, and first runs it stored scheduled.
    waitReason: row.status !== 'scheduled' ? null : (row.wait_reason ?? (row.attempts === 0 ? 'not-before' : 'retry')),
    traceparent: row.traceparent ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** A plain Uint8Array over a Buffer's memory: no copy of a body that may be a megabyte. */
export function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

/** Rows of parameters turned into one array per column, for `unnest`. */
export function columnsOf(rows: unknown[][]): unknown[][] {
  return Array.from({ length: rows[0]?.length ?? 0 }, (_, column) => rows.map((row) => row[column]))
}

/**
 * The instant a statement runs at: null lets the database's own clock decide (`coalesce($n, now())` in the SQL),
 * which is the one clock every lease and due time is set and compared with. Tests pin it to a clock of theirs.
 */
export type StoreClock = (() => Date) | undefined
export const instantOf = (clock: StoreClock): Date | null => clock?.() ?? null
