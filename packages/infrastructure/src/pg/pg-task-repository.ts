import type { TaskRepository, TaskView } from '@request-tasker/application'
import {
  type Attempt,
  type HeaderList,
  type HttpMethod,
  type SendErrorCode,
  type SendOutcome,
  statusAfter,
  type Task,
  type TaskId,
  type TaskStatus,
} from '@request-tasker/domain'
import type { Queryable } from './pool.js'

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

type ViewRow = TaskRow & (ResultRow | { [K in keyof ResultRow]: null }) & { statuses: TaskStatus[]; ats: Date[] }

export function pgTaskRepository(db: Queryable): TaskRepository {
  return {
    async add(task) {
      // One statement, so the task, its first status and its outbox entry commit together or not at all.
      await db.query(
        `with task as (
           insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status,
                              attempts, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           returning id, status, created_at
         ), first_status as (
           insert into task_statuses (task_id, status, at) select id, status, created_at from task
         )
         insert into outbox (kind, task_id) select 'task.requested', id from task`,
        [
          task.id,
          task.ownerKeyId,
          task.request.method,
          task.request.url,
          JSON.stringify(task.request.headers), // pg would turn a bare JS array into a Postgres array, not JSON
          task.request.body,
          task.request.timeoutMs,
          task.status,
          task.attempts,
          task.createdAt,
          task.updatedAt,
        ],
      )
    },

    async findOwned(id, ownerKeyId) {
      // `owner_key_id = $2` makes another key's task read exactly like a missing one.
      const { rows } = await db.query<ViewRow>(
        `select t.*, h.statuses, h.ats,
                r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body,
                r.body_truncated, r.error_code, r.error_message
         from tasks t
         cross join lateral (
           select array_agg(s.status order by s.id) as statuses, array_agg(s.at order by s.id) as ats
           from task_statuses s where s.task_id = t.id
         ) h
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

    async recordAttempts(attempts, now) {
      if (attempts.length === 0) return
      const columns = attemptColumns(attempts)
      // Every attempt is kept; a task moves only while its claim still holds it (in_process, attempts = n), so
      // a late result after a requeue is history, not a status, and a re-recorded attempt changes nothing.
      await db.query(
        `with input as (
           select * from unnest($1::uuid[], $2::integer[], $3::timestamptz[], $4::integer[], $5::integer[],
                                $6::jsonb[], $7::bigint[], $8::bytea[], $9::boolean[], $10::text[], $11::text[],
                                $12::text[])
             as i (task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body,
                   body_truncated, error_code, error_message, next_status)
         ), stored as (
           insert into task_results (task_id, attempt, started_at, duration_ms, http_status_code, headers, length,
                                     body, body_truncated, error_code, error_message)
           select task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body,
                  body_truncated, error_code, error_message
           from input
           on conflict (task_id, attempt) do nothing
         ), moved as (
           update tasks t
           set status = i.next_status, lease_until = null, updated_at = $13
           from input i
           where t.id = i.task_id and t.status = 'in_process' and t.attempts = i.attempt
           returning t.id, t.status
         )
         insert into task_statuses (task_id, status, at) select id, status, $13 from moved`,
        [...columns, now],
      )
    },

    async requeueStale(now, limit) {
      // skip locked: a task whose result is being written right now is left to that write.
      const { rows } = await db.query<{ id: TaskId }>(
        `with stale as (
           select id from tasks
           where status = 'in_process' and lease_until < $1
           order by lease_until
           limit $2
           for update skip locked
         ), requeued as (
           update tasks t set status = 'new', lease_until = null, updated_at = $1
           from stale where t.id = stale.id
           returning t.id
         ), history as (
           insert into task_statuses (task_id, status, at) select id, 'new', $1 from requeued
         ), queued as (
           insert into outbox (kind, task_id) select 'task.requested', id from requeued
         )
         select id from requeued`,
        [now, limit],
      )
      return rows.map((r) => r.id)
    },
  }
}

// One array per column, in the order of the unnest in recordAttempts.
function attemptColumns(attempts: readonly Attempt[]): unknown[][] {
  const rows = attempts.map(({ taskId, n, startedAt, outcome }) => {
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
      statusAfter(outcome),
    ]
  })
  return Array.from({ length: 12 }, (_, column) => rows.map((row) => row[column]))
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
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toTaskView(row: ViewRow): TaskView {
  return {
    task: toTask(row),
    history: row.statuses.map((status, i) => ({ status, at: row.ats[i] as Date })),
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
