import { type AttemptResult, deadLetterOf, expiredLetterOf } from '@request-tasker/application'
import { movesFrom } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'
import { callbackTasksOf } from './callback-tasks.js'
import { columnsOf } from './task-row.js'

// Every attempt is kept; a task moves only while its claim still holds it (in_process, $18, attempts = n), so a late
// result after a requeue is history, not a status, and a re-recorded attempt changes nothing: the statement is safe
// to run again after a connection broke, whether or not its first run committed. A retry is due `delay_ms` after
// the database's now(), the clock every due time is compared with.
const RECORD_ATTEMPTS = `
  with input as (
    select * from unnest($2::uuid[], $3::integer[], $4::timestamptz[], $5::integer[], $6::integer[], $7::jsonb[],
                         $8::bigint[], $9::bytea[], $10::boolean[], $11::text[], $12::text[], $13::text[],
                         $14::integer[], $15::jsonb[], $16::text[], $17::jsonb[])
      as i (task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body, body_truncated,
            error_code, error_message, next_status, delay_ms, dead_letter, end_code, callback_doc)
  ), stored as (
    insert into task_results (task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body,
                              body_truncated, error_code, error_message)
    select task_id, attempt, started_at, duration_ms, http_status_code, headers, length, body, body_truncated,
           error_code, error_message
    from input
    on conflict (task_id, attempt) do nothing
  ), moved as (
    update tasks t
    set status = i.next_status, lease_until = null, updated_at = coalesce($1::timestamptz, now()),
        run_at = coalesce($1::timestamptz, now()) + i.delay_ms * interval '1 millisecond',
        wait_reason = case when i.next_status = 'scheduled' then 'retry' end,
        end_code = i.end_code
    from input i
    where t.id = i.task_id and t.status = any($18::text[]) and t.attempts = i.attempt
    returning t.id, t.status, t.wait_reason, t.expires_at, i.dead_letter, i.callback_doc
  ), history as (
    insert into task_statuses (task_id, status, at, reason)
    select id, status, coalesce($1::timestamptz, now()), wait_reason from moved
  ), ended as (
    select id, status, callback_doc as document from moved where callback_doc is not null
  ),${callbackTasksOf('ended', 'coalesce($1::timestamptz, now())')}
  -- Giving up and announcing it commit together: the dead letter is neither lost nor sent for a live task. An
  -- expired task's letter takes its deadline from the row.
  insert into outbox (kind, task_id, payload)
  select 'task.dead-lettered', id, case when dead_letter->>'reason' = 'expired'
    then dead_letter || jsonb_build_object(
      'expiresAt', to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    else dead_letter end
  from moved where status = 'error'`

export async function recordAttempts(db: Queryable, at: Date | null, results: readonly AttemptResult[]) {
  if (results.length === 0) return
  await db.query(RECORD_ATTEMPTS, [at, ...attemptColumns(results), movesFrom('record')])
}

// One array per column, in the order of the unnest above.
function attemptColumns(results: readonly AttemptResult[]): unknown[][] {
  const rows = results.map(({ attempt, next, callback }) => {
    const { taskId, n, startedAt, outcome } = attempt
    const response = outcome.kind === 'response' ? outcome : null
    const failure = outcome.kind === 'failure' ? outcome : null
    const endCode = next.status === 'error' ? (next.endCode ?? null) : null
    const deadLetter = endCode === 'expired' ? expiredLetterOf(taskId, null, attempt, n) : deadLetterOf(attempt)
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
      next.status === 'scheduled' ? next.delayMs : null,
      next.status === 'error' ? JSON.stringify(deadLetter) : null,
      endCode,
      callback ? JSON.stringify(callback) : null,
    ]
  })
  return columnsOf(rows)
}
