import { setTimeout as sleep } from 'node:timers/promises'
import {
  type AttemptResult,
  type AttemptSummary,
  deadLetterOf,
  type TaskRepository,
  type TaskView,
} from '@request-tasker/application'
import {
  type Attempt,
  DEFAULT_RETRY_ON,
  type HeaderList,
  type HttpMethod,
  type RetryOn,
  type SendErrorCode,
  type SendOutcome,
  type Task,
  type TaskId,
  type TaskStatus,
} from '@request-tasker/domain'
import { isDatabaseUnavailable } from './database-unavailable.js'
import type { Queryable } from './pool.js'
import { writeBatcher } from './write-batcher.js'

// How long a batch of results keeps trying to reach a database that went away. These requests were sent already:
// dropping their results would leave the tasks leased until the sweeper requeues them, and so send them twice
// although no tasker died. Bounded, since the consumer holds its partition (and no heartbeat) meanwhile.
const RECORD_RETRY_MS = 10_000

type TaskRow = {
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
  created_at: Date
  updated_at: Date
}

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

type ViewRow = TaskRow &
  (ResultRow | { [K in keyof ResultRow]: null }) & { statuses: TaskStatus[]; ats: Date[]; summaries: SummaryJson[] }

const INSERT_TASK = `
  insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                     budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at,
                     updated_at, initial_status)`
// Typed, so the same list serves `values (…)` and `select …` (where Postgres cannot infer parameter types).
const TASK_VALUES = `($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::bytea, $7::integer, $8::text,
  $9::integer, $10::integer, $11::integer, $12::integer, $13::integer, $14::jsonb, $15::timestamptz,
  $16::timestamptz, $17::timestamptz, $8::text)`

// Submissions are the hot path: their statements run as named (prepared) statements, so each connection parses,
// rewrites and plans them once instead of on every call, which was about a third of Postgres's CPU per submission.

// One statement, so the task (whose row carries its first status, see task_history) and its outbox entry commit
// together or not at all.
const ADD_TASK = `
  with task as (${INSERT_TASK} values ${TASK_VALUES} returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// Many tasks in one statement (see writeBatcher), each column as an array in taskParams' order, except that a
// task with the default retry lists has null there and $18 holds them once: Postgres then parses that JSON once per
// statement, not once per task, where it was the largest part of the statement's own work.
const ADD_TASKS = `
  with task as (${INSERT_TASK}
    select id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
           max_attempts, backoff_base_ms, backoff_max_ms, coalesce(retry_on, $18::jsonb), run_at, created_at,
           updated_at, status
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[],
      $7::integer[], $8::text[], $9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::integer[],
      $14::jsonb[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[])
      as t (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts, budget_from,
            max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, updated_at)
    returning id, status
  )
  insert into outbox (kind, task_id) select 'task.requested', id from task where status = 'new'`

// The key is taken first, in the same statement: its unique index makes a racing twin wait and then find it held,
// and only a statement that took (or took over an expired) key stores its task.
const ADD_TASK_ONCE = `
  with claimed as (
    insert into task_idempotency (owner_key_id, key, body_hash, task_id, created_at)
    values ($2, $18, $19, $1, $16)
    on conflict (owner_key_id, key) do update
      set body_hash = excluded.body_hash, task_id = excluded.task_id, created_at = excluded.created_at
      where task_idempotency.created_at < $20
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
  }: { addBatches?: number; maxAddBatch?: number; addQueueMs?: number } = {},
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
        `select t.*, h.statuses, h.ats, a.summaries,
                r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body,
                r.body_truncated, r.error_code, r.error_message
         from tasks t
         cross join lateral (
           select array_agg(s.status order by s.seq) as statuses, array_agg(s.at order by s.seq) as ats
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

    async claim(ids, now, leaseGraceMs) {
      if (ids.length === 0) return []
      // The status guard makes a redelivered or concurrent claim of the same task return nothing, so it sends nothing.
      const { rows } = await db.query<TaskRow>(
        `with claimed as (
           update tasks
           set status = 'in_process', attempts = attempts + 1, updated_at = $2,
               lease_until = $2::timestamptz + (timeout_ms + $3::integer) * interval '1 millisecond'
           where id = any($1::uuid[]) and status = 'new'
           returning *
         ), history as (
           insert into task_statuses (task_id, status, at) select id, status, $2 from claimed
         )
         select * from claimed`,
        [ids, now, leaseGraceMs],
      )
      return rows.map(toTask)
    },

    async recordAttempts(results, now) {
      if (results.length === 0) return
      const columns = attemptColumns(results)
      // Every attempt is kept; a task moves only while its claim still holds it (in_process, attempts = n), so
      // a late result after a requeue is history, not a status, and a re-recorded attempt changes nothing: the
      // statement is safe to run again after a connection broke, whether or not its first run committed.
      await whileUnavailable(RECORD_RETRY_MS, () =>
        db.query(
          `with input as (
           select * from unnest($1::uuid[], $2::integer[], $3::timestamptz[], $4::integer[], $5::integer[],
                                $6::jsonb[], $7::bigint[], $8::bytea[], $9::boolean[], $10::text[], $11::text[],
                                $12::text[], $13::timestamptz[], $14::jsonb[])
             as i (task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body,
                   body_truncated, error_code, error_message, next_status, run_at, dead_letter)
         ), stored as (
           insert into task_results (task_id, attempt, started_at, duration_ms, http_status_code, headers, length,
                                     body, body_truncated, error_code, error_message)
           select task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body,
                  body_truncated, error_code, error_message
           from input
           on conflict (task_id, attempt) do nothing
         ), moved as (
           update tasks t
           set status = i.next_status, run_at = i.run_at, lease_until = null, updated_at = $15
           from input i
           where t.id = i.task_id and t.status = 'in_process' and t.attempts = i.attempt
           returning t.id, t.status, i.dead_letter
         ), history as (
           insert into task_statuses (task_id, status, at) select id, status, $15 from moved
         )
         -- Giving up and announcing it commit together: the dead letter is neither lost nor sent for a live task.
         insert into outbox (kind, task_id, payload)
         select 'task.dead-lettered', id, dead_letter from moved where status = 'error'`,
          [...columns, now],
        ),
      )
    },

    requeueStale(now, limit) {
      // skip locked: a task whose result is being written right now is left to that write.
      return backToNew(db, { from: 'in_process', dueColumn: 'lease_until', passed: '<' }, now, limit)
    },

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
           update tasks t set status = 'cancelled', run_at = null, updated_at = $3
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

    promoteDue(now, limit) {
      // skip locked: two schedulers split the due tasks between them instead of queueing one twice.
      return backToNew(db, { from: 'scheduled', dueColumn: 'run_at', passed: '<=' }, now, limit)
    },
  }
}

/**
 * Puts up to `limit` tasks whose time in `dueColumn` has passed back from `from` to `new`, with their status row and
 * outbox entry, in one statement: a stale lease (the sweeper) and a due retry (the scheduler) take one path. A lease
 * runs out after its instant (`<`); a retry is due at its instant (`<=`).
 */
async function backToNew(
  db: Queryable,
  {
    from,
    dueColumn,
    passed,
  }: { from: 'in_process' | 'scheduled'; dueColumn: 'lease_until' | 'run_at'; passed: '<' | '<=' },
  now: Date,
  limit: number,
): Promise<TaskId[]> {
  const { rows } = await db.query<{ id: TaskId }>(
    `with due as (
       select id from tasks
       where status = '${from}' and ${dueColumn} ${passed} $1
       order by ${dueColumn}
       limit $2
       for update skip locked
     ), moved as (
       update tasks t set status = 'new', ${dueColumn} = null, updated_at = $1
       from due where t.id = due.id
       returning t.id
     ), history as (
       insert into task_statuses (task_id, status, at) select id, 'new', $1 from moved
     ), queued as (
       insert into outbox (kind, task_id) select 'task.requested', id from moved
     )
     select id from moved`,
    [now, limit],
  )
  return rows.map((r) => r.id)
}

const RETRY_ON_COLUMN = 13 // in taskParams

function batchParams(tasks: readonly Task[]): unknown[] {
  const columns = columnsOf(tasks.map(taskParams))
  const retryOn = columns[RETRY_ON_COLUMN] ?? []
  columns[RETRY_ON_COLUMN] = tasks.map((t, i) => (t.retry.retryOn === DEFAULT_RETRY_ON ? null : retryOn[i]))
  return [...columns, DEFAULT_RETRY_ON_JSON]
}

/** Rows of parameters turned into one array per column, for `unnest`. */
function columnsOf(rows: unknown[][]): unknown[][] {
  return Array.from({ length: rows[0]?.length ?? 0 }, (_, column) => rows.map((row) => row[column]))
}

// One array per column, in the order of the unnest in recordAttempts.
function attemptColumns(results: readonly AttemptResult[]): unknown[][] {
  const rows = results.map(({ attempt, next }) => {
    const { taskId, n, startedAt, outcome } = attempt
    const response = outcome.kind === 'response' ? outcome : null
    const failure = outcome.kind === 'failure' ? outcome : null
    return [
      taskId,
      n,
      startedAt,
      outcome.durationMs,
      response?.httpStatusCode ?? null,
      response ? JSON.stringify(response.headers) : null,
      response?.length ?? null,
      response?.body ?? null,
      response?.bodyTruncated ?? null,
      failure?.error.code ?? null,
      failure?.error.message ?? null,
      next.status,
      next.status === 'scheduled' ? next.runAt : null,
      next.status === 'error' ? JSON.stringify(deadLetterOf(attempt)) : null,
    ]
  })
  return columnsOf(rows)
}

function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    ownerKeyId: row.owner_key_id,
    request: {
      method: row.method,
      url: row.url,
      headers: row.request_headers,
      body: row.request_body === null ? null : new Uint8Array(row.request_body),
      timeoutMs: row.timeout_ms,
    },
    status: row.status,
    attempts: row.attempts,
    budgetFrom: row.budget_from,
    retry: {
      maxAttempts: row.max_attempts,
      backoff: { baseMs: row.backoff_base_ms, maxMs: row.backoff_max_ms },
      retryOn: row.retry_on,
    },
    runAt: row.run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toTaskView(row: ViewRow): TaskView {
  return {
    task: toTask(row),
    history: row.statuses.map((status, i) => ({ status, at: row.ats[i] as Date })),
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

/**
 * Runs `statement` again while the database is unreachable, for up to `budgetMs`. Only for a statement that is safe
 * to repeat: one whose first run may have committed before its connection broke.
 */
async function whileUnavailable<T>(budgetMs: number, statement: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + budgetMs
  for (let waitMs = 100; ; waitMs = Math.min(waitMs * 2, 1_000)) {
    try {
      return await statement()
    } catch (err) {
      if (!isDatabaseUnavailable(err) || Date.now() + waitMs > giveUpAt) throw err
      await sleep(waitMs)
    }
  }
}
