import type { AttemptSummary, TaskRepository, TaskView } from '@request-tasker/application'
import {
  type Attempt,
  DEFAULT_RETRY_ON,
  type HeaderList,
  type SendErrorCode,
  type SendOutcome,
  type Task,
  type TaskId,
  type TaskStatus,
  type WaitReason,
} from '@request-tasker/domain'
import type { Queryable } from './pool.js'
import { claimTasks } from './tasks/claim-tasks.js'
import { expireLeases, renewLeases } from './tasks/leases.js'
import { recordAttempts } from './tasks/record-attempts.js'
import { promoteDue, requeueLost, wakeKeyBusy } from './tasks/requeue.js'
import { columnsOf, instantOf, type StoreClock, type TaskRow, toTask } from './tasks/task-row.js'
import { writeBatcher } from './write-batcher.js'

// task_results columns; none shares a name with a tasks column, so findOwned selects both side by side.
type ResultRow = {
  attempt: number
  started_at: Date
  duration_ms: number
  http_status_code: number | null
  headers: HeaderList | null
  length: string | null // bigint arrives as a string
  body: Buffer | null
  body_truncated: boolean | null
  error_code: SendErrorCode | null
  error_message: string | null
}

// Every attempt in short, as json_agg writes it (timestamps as text).
type SummaryJson = {
  n: number
  started_at: string
  duration_ms: number
  http_status_code: number | null
  error_code: SendErrorCode | null
  error_message: string | null
}

export type ViewRow = TaskRow &
  (ResultRow | { [K in keyof ResultRow]: null }) & {
    statuses: TaskStatus[]
    ats: Date[]
    reasons: Array<WaitReason | null>
    summaries: SummaryJson[]
  }

const INSERT_TASK = `
  insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                     budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at,
                     updated_at, initial_status, traceparent)`
// Typed, so the same list serves `values (…)` and `select …` (where Postgres cannot infer parameter types).
const TASK_VALUES = `($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::bytea, $7::integer, $8::text,
  $9::integer, $10::integer, $11::integer, $12::integer, $13::integer, $14::jsonb, $15::timestamptz,
  $16::timestamptz, $17::timestamptz, $8::text, $18::text)`

// Submissions are the hot path: their statements run as named (prepared) statements, so each connection parses,
// rewrites and plans them once instead of on every call, which was about a third of Postgres's CPU per submission.

// One statement, so the task (whose row carries its first status, see task_history) and its outbox entry commit
// together or not at all.
const ADD_TASK = `
  with task as (${INSERT_TASK} values ${TASK_VALUES} returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// Many tasks in one statement (see writeBatcher), each column as an array in taskParams' order, except that a
// task with the default retry lists has null there and $19 holds them once: Postgres then parses that JSON once per
// statement, not once per task, where it was the largest part of the statement's own work.
const ADD_TASKS = `
  with task as (${INSERT_TASK}
    select id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
           max_attempts, backoff_base_ms, backoff_max_ms, coalesce(retry_on, $19::jsonb), run_at, created_at,
           updated_at, status, traceparent
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[],
      $7::integer[], $8::text[], $9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::integer[],
      $14::jsonb[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::text[])
      as t (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
            max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, updated_at, traceparent)
    returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// The key is taken first, in the same statement: its unique index makes a racing twin wait and then find it held,
// and only a statement that took (or took over an expired) key stores its task.
const ADD_TASK_ONCE = `
  with claimed as (
    insert into task_idempotency (owner_key_id, key, body_hash, task_id, created_at)
    values ($2, $19, $20, $1, $16)
    on conflict (owner_key_id, key) do update
      set body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
      where task_idempotency.created_at < $21
    returning task_id
  ), task as (${INSERT_TASK} select ${TASK_VALUES.slice(1, -1)} where exists (select from claimed)
    returning id, status
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'
  )
  select count(*)::int as created from task`

const BATCHED_BODY_MAX_BYTES = 64 * 1024

// The default lists, serialised once: most tasks carry them (see createRetryPolicy).
const DEFAULT_RETRY_ON_JSON = JSON.stringify(DEFAULT_RETRY_ON)

function taskParams(task: Task): unknown[] {
  return [
    task.id,
    task.ownerKeyId,
    task.request.method,
    task.request.url,
    JSON.stringify(task.request.headers), // pg would turn a bare JS array into a Postgres array, not JSON
    task.request.body,
    task.request.timeoutMs,
    task.status,
    task.attempts,
    task.budgetFrom,
    task.retry.maxAttempts,
    task.retry.backoff.baseMs,
    task.retry.backoff.maxMs,
    task.retry.retryOn === DEFAULT_RETRY_ON ? DEFAULT_RETRY_ON_JSON : JSON.stringify(task.retry.retryOn),
    task.runAt,
    task.createdAt,
    task.updatedAt,
    task.traceparent,
  ]
}

export type PgTaskRepository = TaskRepository & {
  /** Submissions waiting for a free batch slot: with the pool's own queue, how far behind the database is. */
  queuedAdds(): number
}

/**
 * `addBatches` caps the submissions written at once: while that many statements run, further ones queue and go
 * together in the next, up to `maxAddBatch` tasks per statement; one still queued after `addQueueMs` fails as the
 * database being unavailable. Two at once measured best on two cores (S1: 1 and 3 close behind, 4 and 8 well below).
 */
export function pgTaskRepository(
  db: Queryable,
  {
    addBatches = 2,
    maxAddBatch = 100,
    addQueueMs,
    clock,
  }: {
    addBatches?: number
    maxAddBatch?: number
    addQueueMs?: number
    /** Only for tests: pins the instant the tasker's statements run at (see StoreClock). */
    clock?: StoreClock
  } = {},
): PgTaskRepository {
  const addAlone = async (task: Task) => {
    await db.query({ name: 'task-add', text: ADD_TASK, values: taskParams(task) })
  }
  const adds = writeBatcher<Task>(
    {
      writeOne: addAlone,
      writeMany: (tasks) => db.query({ name: 'tasks-add', text: ADD_TASKS, values: batchParams(tasks) }),
    },
    { maxInFlight: addBatches, maxBatch: maxAddBatch, maxQueueMs: addQueueMs },
  )
  return {
    queuedAdds: adds.queued,

    add(task) {
      // A large body goes alone, as a binary parameter: in a batch it would travel as the hex text of a bytea[],
      // built in memory as one string twice its size.
      if ((task.request.body?.length ?? 0) > BATCHED_BODY_MAX_BYTES) return addAlone(task)
      return adds.write(task)
    },

    async addOnce(task, claim) {
      const { rows } = await db.query<{ created: number }>({
        name: 'task-add-once',
        text: ADD_TASK_ONCE,
        values: [...taskParams(task), claim.key, claim.bodyHash, claim.expiredBefore],
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
    },

    async findOwned(id, ownerKeyId) {
      // `owner_key_id = $2` makes another key's task read exactly like a missing one.
      const { rows } = await db.query<ViewRow>(
        `select t.*, h.statuses, h.ats, h.reasons, a.summaries,
                r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body,
                r.body_truncated, r.error_code, r.error_message
         from tasks t
         cross join lateral (
           select array_agg(s.status order by s.seq) as statuses, array_agg(s.at order by s.seq) as ats,
                  array_agg(s.reason order by s.seq) as reasons
           from task_history s where s.task_id = t.id
         ) h
         cross join lateral (
           select coalesce(json_agg(json_build_object(
                    'n', a.attempt, 'started_at', a.started_at, 'duration_ms', a.duration_ms,
                    'http_status_code', a.http_status_code, 'error_code', a.error_code,
                    'error_message', a.error_message
                  ) order by a.attempt), '[]') as summaries
           from task_results a where a.task_id = t.id
         ) a
         left join lateral (
           select * from task_results r where r.task_id = t.id order by r.attempt desc limit 1
         ) r on true
         where t.id = $1 and t.owner_key_id = $2`,
        [id, ownerKeyId],
      )
      const row = rows[0]
      return row ? toTaskView(row) : null
    },

    claim: (ids, lease, room) => claimTasks(db, instantOf(clock), ids, lease, room),
    recordAttempts: (results) => recordAttempts(db, instantOf(clock), results),
    renewLeases: (held, graceMs) => renewLeases(db, instantOf(clock), held, graceMs),
    expireLeases: (limit) => expireLeases(db, instantOf(clock), limit),
    promoteDue: (limit) => promoteDue(db, instantOf(clock), limit),
    wakeKeyBusy: (ownerKeyId, limit) => wakeKeyBusy(db, instantOf(clock), ownerKeyId, limit),
    requeueLost: (olderThanMs, limit) => requeueLost(db, instantOf(clock), olderThanMs, limit),

    async redrive(id, ownerKeyId, now) {
      // `for update` makes a concurrent redrive wait and then find the task new: it sends once, and the other
      // caller hears the status it found.
      const { rows } = await db.query<{ status: TaskStatus }>(
        `with found as (
           select id, status from tasks where id = $1 and owner_key_id = $2 for update
         ), redriven as (
           update tasks t set status = 'new', budget_from = t.attempts, updated_at = $3
           from found where t.id = found.id and found.status = 'error'
           returning t.id
         ), history as (
           insert into task_statuses (task_id, status, at) select id, 'new', $3 from redriven
         ), queued as (
           insert into outbox (kind, task_id) select 'task.requested', id from redriven
         )
         select status from found`,
        [id, ownerKeyId, now],
      )
      return rows[0]?.status ?? null
    },

    async cancel(id, ownerKeyId, now) {
      // The status guard races safely with a claim: once in_process, the task is no longer cancelled, and once
      // cancelled, no claim takes it. Its outbox entry or message, if any, then finds nothing to send.
      const { rows } = await db.query<{ status: TaskStatus }>(
        `with found as (
           select id, status from tasks where id = $1 and owner_key_id = $2 for update
         ), cancelled as (
           update tasks t set status = 'cancelled', run_at = null, wait_reason = null, updated_at = $3
           from found where t.id = found.id and found.status in ('new', 'scheduled')
           returning t.id
         ), history as (
           insert into task_statuses (task_id, status, at) select id, 'cancelled', $3 from cancelled
         )
         select status from found`,
        [id, ownerKeyId, now],
      )
      return rows[0]?.status ?? null
    },
  }
}

const RETRY_ON_COLUMN = 13 // in taskParams

function batchParams(tasks: readonly Task[]): unknown[] {
  const columns = columnsOf(tasks.map(taskParams))
  const retryOn = columns[RETRY_ON_COLUMN] ?? []
  columns[RETRY_ON_COLUMN] = tasks.map((t, i) => (t.retry.retryOn === DEFAULT_RETRY_ON ? null : retryOn[i]))
  return [...columns, DEFAULT_RETRY_ON_JSON]
}

export function toTaskView(row: ViewRow): TaskView {
  return {
    task: toTask(row),
    history: row.statuses.map((status, i) => ({ status, at: row.ats[i] as Date, reason: row.reasons[i] ?? null })),
    attempts: row.summaries.map(toSummary),
    lastAttempt: row.attempt === null ? null : toAttempt(row.id, row),
  }
}

function toAttempt(taskId: TaskId, row: ResultRow): Attempt {
  const outcome: SendOutcome =
    row.http_status_code !== null
      ? {
          kind: 'response',
          httpStatusCode: row.http_status_code,
          headers: row.headers ?? [],
          length: Number(row.length),
          body: new Uint8Array(row.body ?? []),
          bodyTruncated: row.body_truncated ?? false,
          durationMs: row.duration_ms,
        }
      : {
          kind: 'failure',
          error: { code: row.error_code ?? 'unknown', message: row.error_message ?? '' },
          durationMs: row.duration_ms,
        }
  return { taskId, n: row.attempt, startedAt: row.started_at, outcome }
}

function toSummary(json: SummaryJson): AttemptSummary {
  return {
    n: json.n,
    startedAt: new Date(json.started_at),
    durationMs: json.duration_ms,
    httpStatusCode: json.http_status_code,
    error: json.error_code === null ? null : { code: json.error_code, message: json.error_message ?? '' },
  }
}
