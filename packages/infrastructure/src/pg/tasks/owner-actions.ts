import { type Move, movesFrom, type TaskId, type TaskStatus } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'

// An owner's actions on one task: each statement locks the task (`for update`), so two at once queue, and changes
// it only from the statuses the domain's MOVES allow ($4); it answers the status it found, so the caller can say
// why not.

// Back to `new` with a fresh budget of attempts, and queued, only from `error`: a second redrive at once waits and
// then finds the task new, so it is sent once. The owner asks for it now: a deadline is lifted (see redriveTask).
const REDRIVE = `
  with found as (
    select id, status from tasks where id = $1 and owner_key_id = $2 for update
  ), redriven as (
    update tasks t set status = 'new', budget_from = t.attempts, updated_at = $3, expires_at = null, end_code = null
    from found where t.id = found.id and found.status = any($4::text[])
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'new', $3 from redriven
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from redriven
  )
  select status from found`

// Withdrawn only while nobody sends it. The guard races safely with a claim: once in_process the task is no longer
// cancelled, and once cancelled no claim takes it; its outbox entry or message, if any, then finds nothing to send.
const CANCEL = `
  with found as (
    select id, status from tasks where id = $1 and owner_key_id = $2 for update
  ), cancelled as (
    update tasks t set status = 'cancelled', run_at = null, wait_reason = null, updated_at = $3
    from found where t.id = found.id and found.status = any($4::text[])
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'cancelled', $3 from cancelled
  )
  select status from found`

async function act(db: Queryable, move: Move, statement: string, id: TaskId, ownerKeyId: string, now: Date) {
  const { rows } = await db.query<{ status: TaskStatus }>(statement, [id, ownerKeyId, now, movesFrom(move)])
  return rows[0]?.status ?? null
}

export const redriveTask = (db: Queryable, id: TaskId, ownerKeyId: string, now: Date) =>
  act(db, 'redrive', REDRIVE, id, ownerKeyId, now)

export const cancelTask = (db: Queryable, id: TaskId, ownerKeyId: string, now: Date) =>
  act(db, 'cancel', CANCEL, id, ownerKeyId, now)
