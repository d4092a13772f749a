import type { AddOnceResult, IdempotencyClaim } from '@request-tasker/application'
import { DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'
import { callbacksJson, type SealedTask } from './secret-columns.js'

// Submissions are the hot path: their statements run as named (prepared) statements, so each connection parses,
// rewrites and plans them once instead of on every call, which was about a third of Postgres's CPU per submission.
// Each writes the task (its row carries its first status, see task_history) and, when it is `new`, its outbox entry
// in one statement: both or neither.

const ADD_TASK = `
  with task as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason,
                       created_at, updated_at, flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id,
                       traceparent, initial_status)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
            $24, $25, $26, $8)
    returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// Many tasks at once, each parameter one column as an array. A task with the default retry lists has null there and
// $27 holds them once: Postgres then parses that JSON once per statement, not once per task, where it was the
// largest part of the statement's own work.
const ADD_TASKS = `
  with task as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason,
                       created_at, updated_at, flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id,
                       traceparent, initial_status)
    select id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
           max_attempts, backoff_base_ms, backoff_max_ms, coalesce(retry_on, $27::jsonb), run_at, wait_reason,
           created_at, updated_at, flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id, traceparent,
           status
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[], $7::integer[], $8::text[],
                $9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::integer[], $14::jsonb[],
                $15::timestamptz[], $16::text[], $17::timestamptz[], $18::timestamptz[], $19::text[], $20::text[],
                $21::uuid[], $22::jsonb[], $23::boolean[], $24::timestamptz[], $25::text[], $26::text[])
      as t (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
            max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason, created_at, updated_at,
            flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id, traceparent)
    returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// The Idempotency-Key is taken first, in the same statement: its unique index makes a racing twin wait and then
// find it held, and only a statement that took (or took over an expired) key stores its task.
const ADD_TASK_ONCE = `
  with claimed as (
    insert into task_idempotency (owner_key_id, key, body_hash, task_id, created_at)
    values ($2, $27, $28, $1, $17)
    on conflict (owner_key_id, key) do update
      set body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
      where task_idempotency.created_at < $29
    returning task_id
  ), task as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason,
                       created_at, updated_at, flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id,
                       traceparent, initial_status)
    select $1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::bytea, $7::integer, $8::text, $9::integer,
           $10::integer, $11::integer, $12::integer, $13::integer, coalesce($14::jsonb, $30::jsonb), $15::timestamptz,
           $16::text, $17::timestamptz, $18::timestamptz, $19::text, $20::text, $21::uuid, $22::jsonb, $23::boolean,
           $24::timestamptz, $25::text, $26::text, $8::text
    where exists (select from claimed)
    returning id, status
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'
  )
  select count(*)::int as created from task`

// A batch of submissions (POST /tasks/batch) in one statement, so they commit together: the Idempotency-Keys first
// (their unique index makes a racing submission of the same key wait, then find it held, as ADD_TASK_ONCE does for
// one), then the tasks whose key was taken or that have none, with the same columns as ADD_TASKS, then their outbox
// entries. The bodies travel as one binary parameter ($31) and each task takes its slice: as a bytea[] they would be
// hex text twice their size, built in memory as one string.
const ADD_TASK_BATCH = `
  with input as (
    select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::integer[], $7::text[],
                         $8::integer[], $9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::jsonb[],
                         $14::timestamptz[], $15::text[], $16::timestamptz[], $17::timestamptz[], $18::text[],
                         $19::text[], $20::uuid[], $21::jsonb[], $22::boolean[], $23::timestamptz[], $24::text[],
                         $25::text[], $26::integer[], $27::integer[], $28::text[], $29::text[])
      as i (id, owner_key_id, method, url, request_headers, timeout_ms, status, attempts, budget_from, max_attempts,
            backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason, created_at, updated_at, flow_key, kind,
            parent_id, callbacks, sign, expires_at, secrets_key_id, traceparent, body_offset, body_length, key,
            body_hash)
  ), claimed as (
    insert into task_idempotency (owner_key_id, key, body_hash, task_id, created_at)
    select owner_key_id, key, body_hash, id, created_at from input where key is not null
    on conflict (owner_key_id, key) do update
      set body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
      where task_idempotency.created_at < $30
    returning task_id
  ), task as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, wait_reason,
                       created_at, updated_at, flow_key, kind, parent_id, callbacks, sign, expires_at, secrets_key_id,
                       traceparent, initial_status)
    select id, owner_key_id, method, url, request_headers,
           case when body_length is not null then substring($31::bytea from body_offset + 1 for body_length) end,
           timeout_ms, status, attempts, budget_from, max_attempts, backoff_base_ms, backoff_max_ms,
           coalesce(retry_on, $32::jsonb), run_at, wait_reason, created_at, updated_at, flow_key, kind, parent_id,
           callbacks, sign, expires_at, secrets_key_id, traceparent, status
    from input
    where key is null or id in (select task_id from claimed)
    returning id, status
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'
  )
  select id from task`

// The default lists, serialised once: most tasks carry them (see createRetryPolicy).
const DEFAULT_RETRY_ON_JSON = JSON.stringify(DEFAULT_RETRY_ON)

/**
 * A task's columns, named as in `tasks`; their order is that of the parameters $1 to $26 of the statements above.
 * Secret header values arrive sealed (see sealTask), with the id of the key that sealed them.
 */
function columnsOf({ task, secretsKeyId }: SealedTask) {
  return {
    id: task.id,
    owner_key_id: task.ownerKeyId,
    method: task.request.method,
    url: task.request.url,
    request_headers: JSON.stringify(task.request.headers), // pg would make a bare JS array a Postgres array
    request_body: task.request.body,
    timeout_ms: task.request.timeoutMs,
    status: task.status,
    attempts: task.attempts,
    budget_from: task.budgetFrom,
    max_attempts: task.retry.maxAttempts,
    backoff_base_ms: task.retry.backoff.baseMs,
    backoff_max_ms: task.retry.backoff.maxMs,
    retry_on: task.retry.retryOn === DEFAULT_RETRY_ON ? null : JSON.stringify(task.retry.retryOn),
    run_at: task.runAt,
    wait_reason: task.waitReason,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
    flow_key: task.flowKey,
    kind: task.kind,
    parent_id: task.parentId,
    callbacks: task.callbacks === null ? null : JSON.stringify(callbacksJson(task.callbacks)),
    sign: task.sign,
    expires_at: task.expiresAt,
    secrets_key_id: secretsKeyId,
    traceparent: task.traceparent,
  }
}

export async function addTask(db: Queryable, task: SealedTask): Promise<void> {
  const columns = columnsOf(task)
  const values = Object.values({ ...columns, retry_on: columns.retry_on ?? DEFAULT_RETRY_ON_JSON })
  await db.query({ name: 'task-add', text: ADD_TASK, values })
}

export async function addTasks(db: Queryable, tasks: readonly SealedTask[]): Promise<void> {
  // One array per column, for unnest; a null retry_on takes the default lists, sent once as $27.
  const rows = tasks.map(columnsOf)
  const names = Object.keys(rows[0]!) as Array<keyof ReturnType<typeof columnsOf>>
  const values = names.map((name) => rows.map((row) => row[name]))
  await db.query({ name: 'tasks-add', text: ADD_TASKS, values: [...values, DEFAULT_RETRY_ON_JSON] })
}

export async function addTaskOnce(db: Queryable, sealed: SealedTask, claim: IdempotencyClaim): Promise<AddOnceResult> {
  const { task } = sealed
  const { rows } = await db.query<{ created: number }>({
    name: 'task-add-once',
    text: ADD_TASK_ONCE,
    values: [
      ...Object.values(columnsOf(sealed)),
      claim.key,
      claim.bodyHash,
      claim.expiredBefore,
      DEFAULT_RETRY_ON_JSON,
    ],
  })
  if (rows[0]?.created === 1) return { created: true }
  // A new statement sees the holder, committed by now: the conflicting insert waited for it.
  const held = await db.query<{ task_id: TaskId; body_hash: string }>(
    'select task_id, body_hash from task_idempotency where owner_key_id = $1 and key = $2',
    [task.ownerKeyId, claim.key],
  )
  const row = held.rows[0]
  if (!row) throw new Error(`idempotency key of ${task.ownerKeyId} vanished while submitting`)
  return { created: false, taskId: row.task_id, bodyHash: row.body_hash }
}

/** A task of a batch, sealed, and the Idempotency-Key it takes when it has one. */
export type SealedEntry = { readonly sealed: SealedTask; readonly claim: IdempotencyClaim | null }

/** Stores the batch (see ADD_TASK_BATCH); returns the ids of the tasks stored, those whose key was free or none. */
export async function addTaskBatch(db: Queryable, entries: readonly SealedEntry[]): Promise<Set<TaskId>> {
  if (entries.length === 0) return new Set()
  const bodies: Uint8Array[] = []
  const offsets: number[] = []
  const lengths: Array<number | null> = []
  let offset = 0
  for (const { sealed } of entries) {
    const body = sealed.task.request.body
    offsets.push(offset)
    lengths.push(body === null ? null : body.byteLength)
    if (body !== null) {
      bodies.push(body)
      offset += body.byteLength
    }
  }
  // The columns of columnsOf but the body, in their order: $1 to $25.
  const rows = entries.map(({ sealed }) => columnsOf(sealed))
  const names = (Object.keys(rows[0]!) as Array<keyof ReturnType<typeof columnsOf>>).filter((n) => n !== 'request_body')
  const { rows: stored } = await db.query<{ id: TaskId }>({
    name: 'tasks-add-batch',
    text: ADD_TASK_BATCH,
    values: [
      ...names.map((name) => rows.map((row) => row[name])),
      offsets,
      lengths,
      entries.map((e) => e.claim?.key ?? null),
      entries.map((e) => e.claim?.bodyHash ?? null),
      entries.find((e) => e.claim)?.claim?.expiredBefore ?? new Date(0),
      Buffer.concat(bodies, offset),
      DEFAULT_RETRY_ON_JSON,
    ],
  })
  return new Set(stored.map((r) => r.id))
}
