import type { AddOnceResult, BatchEntry, BatchStore } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type { Queryable } from './pool.js'

// Every task of a batch in one statement, so they commit together: the Idempotency-Keys first (their unique index
// makes a racing submission of the same key wait, then find it held, as ADD_TASK_ONCE does for one), then the tasks
// whose key was taken or that have none, then their outbox entries. The bodies travel as one binary parameter and
// each task takes its slice: as a bytea[] they would be hex text twice their size, built in memory as one string.
const ADD_TASK_BATCH = `
  with input as (
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::integer[], $7::integer[],
                         $8::integer[], $9::text[], $10::integer[], $11::integer[], $12::integer[], $13::jsonb[],
                         $14::timestamptz[], $15::timestamptz[], $16::text[], $17::text[], $18::text[])
      as i (id, owner_key_id, method, url, request_headers, body_offset, body_length, timeout_ms, status,
            max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, traceparent, key, body_hash)
  ), claimed as (
    insert into task_idempotency (owner_key_id, key, body_hash, task_id, created_at)
    select owner_key_id, key, body_hash, id, created_at from input where key is not null
    on conflict (owner_key_id, key) do update
      set body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
      where task_idempotency.created_at < $20
    returning task_id
  ), task as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at,
                       updated_at, initial_status, traceparent)
    select id, owner_key_id, method, url, request_headers,
           case when body_length is not null then substring($19::bytea from body_offset + 1 for body_length) end,
           timeout_ms, status, 0, 0, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at,
           created_at, status, traceparent
    from input
    where key is null or id in (select task_id from claimed)
    returning id, status
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'
  )
  select id from task`

const FIND_HOLDERS = `
  select key, task_id, body_hash from task_idempotency where owner_key_id = $1 and key = any($2::text[])`

export function pgBatchStore(db: Queryable): BatchStore {
  return {
    async addBatch(entries) {
      if (entries.length === 0) return []
      const { rows } = await db.query<{ id: TaskId }>(ADD_TASK_BATCH, batchParams(entries))
      const created = new Set(rows.map((r) => r.id))
      const unclaimed = entries.filter((e) => !created.has(e.task.id))
      // A key another submission holds: its holder, committed by now, since the conflicting insert waited for it.
      const held = new Map<string, { task_id: TaskId; body_hash: string }>()
      if (unclaimed.length > 0) {
        const owner = unclaimed[0]!.task.ownerKeyId
        const keys = unclaimed.map((e) => e.claim?.key ?? '')
        const found = await db.query<{ key: string; task_id: TaskId; body_hash: string }>(FIND_HOLDERS, [owner, keys])
        for (const row of found.rows) held.set(row.key, row)
      }
      return entries.map((entry): AddOnceResult => {
        if (created.has(entry.task.id)) return { created: true }
        const holder = held.get(entry.claim?.key ?? '')
        if (!holder) throw new Error(`idempotency key of ${entry.task.ownerKeyId} vanished while submitting a batch`)
        return { created: false, taskId: holder.task_id, bodyHash: holder.body_hash }
      })
    },
  }
}

function batchParams(entries: readonly BatchEntry[]): unknown[] {
  const bodies: Uint8Array[] = []
  let offset = 0
  const offsets: number[] = []
  const lengths: Array<number | null> = []
  for (const { task } of entries) {
    const body = task.request.body
    offsets.push(offset)
    lengths.push(body === null ? null : body.length)
    if (body !== null) {
      bodies.push(body)
      offset += body.length
    }
  }
  const tasks = entries.map((e) => e.task)
  return [
    tasks.map((t) => t.id),
    tasks.map((t) => t.ownerKeyId),
    tasks.map((t) => t.request.method),
    tasks.map((t) => t.request.url),
    tasks.map((t) => JSON.stringify(t.request.headers)),
    offsets,
    lengths,
    tasks.map((t) => t.request.timeoutMs),
    tasks.map((t) => t.status),
    tasks.map((t) => t.retry.maxAttempts),
    tasks.map((t) => t.retry.backoff.baseMs),
    tasks.map((t) => t.retry.backoff.maxMs),
    tasks.map((t) => JSON.stringify(t.retry.retryOn)),
    tasks.map((t) => t.runAt),
    tasks.map((t) => t.createdAt),
    tasks.map((t) => t.traceparent),
    entries.map((e) => e.claim?.key ?? null),
    entries.map((e) => e.claim?.bodyHash ?? null),
    Buffer.concat(bodies, offset),
    entries.find((e) => e.claim)?.claim?.expiredBefore ?? new Date(0),
  ]
}
