import { movesFrom, type TaskId } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'

// Each statement below puts tasks back to `new` with their status row and outbox entry, in one statement, so a
// task is queued exactly when its status says so. skip locked: two taskers split the tasks instead of queueing one
// twice. The statuses come from the domain's MOVES; these statements stay unnamed (planned with those values), so
// Postgres still sees that the partial index on scheduled (or new) tasks serves them.

/** The tasks `chosen` selects (locked, by `id`) go back to `new`, each with its status row and outbox entry. */
const requeueChosen = (chosen: string) => `
  with chosen as (${chosen}
  ), moved as (
    update tasks t set status = 'new', run_at = null, wait_reason = null, updated_at = coalesce($1::timestamptz, now())
    from chosen where t.id = chosen.id
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'new', coalesce($1::timestamptz, now()) from moved
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from moved
  )
  select id from moved`

// Scheduled tasks whose time has come, earliest first: a retry, a notBefore, a key-busy wait that ran out. Ties (a
// resumed key's tasks all come due at one instant) go oldest first, by id, whatever order the rows lie in.
const PROMOTE_DUE = requeueChosen(`
    select id from tasks
    where status = any($3::text[]) and run_at <= coalesce($1::timestamptz, now())
    order by run_at, id
    limit $2
    for update skip locked`)

// A key's tasks waiting for one of its send slots, oldest wait first, however long they were to wait.
const WAKE_KEY_BUSY = requeueChosen(`
    select id from tasks
    where status = any($4::text[]) and wait_reason = 'key-busy' and owner_key_id = $2
    order by run_at, id
    limit $3
    for update skip locked`)

// Tasks long `new` whose outbox entry is gone: published, then lost on the way. Their status stays `new`; only
// updated_at moves, so each is queued again at most once per `$2` ms.
const REQUEUE_LOST = `
  with lost as (
    select t.id from tasks t
    where t.status = any($4::text[])
      and t.updated_at < coalesce($1::timestamptz, now()) - $2::integer * interval '1 millisecond'
      and not exists (select from outbox o where o.task_id = t.id)
    order by t.updated_at
    limit $3
    for update skip locked
  ), touched as (
    update tasks t set updated_at = coalesce($1::timestamptz, now()) from lost where t.id = lost.id returning t.id
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from touched
  )
  select id from touched`

async function ids(db: Queryable, statement: string, values: unknown[]): Promise<TaskId[]> {
  const { rows } = await db.query<{ id: TaskId }>(statement, values)
  return rows.map((r) => r.id)
}

export const promoteDue = (db: Queryable, at: Date | null, limit: number) =>
  ids(db, PROMOTE_DUE, [at, limit, movesFrom('promote')])

// The partial index on scheduled tasks' run_at answers this without a scan.
const NEXT_DUE = `
  select ceil(extract(epoch from min(run_at) - coalesce($1::timestamptz, now())) * 1000)::float8 as ms
  from tasks where status = 'scheduled'`

export async function nextDueInMs(db: Queryable, at: Date | null): Promise<number | null> {
  const { rows } = await db.query<{ ms: number | null }>(NEXT_DUE, [at])
  return rows[0]?.ms ?? null
}

export const wakeKeyBusy = (db: Queryable, at: Date | null, ownerKeyId: string, limit: number) =>
  ids(db, WAKE_KEY_BUSY, [at, ownerKeyId, limit, movesFrom('promote')])

// Not a move: the task stays as it is, as claimable as it was, and only gets a message again.
export const requeueLost = (db: Queryable, at: Date | null, olderThanMs: number, limit: number) =>
  ids(db, REQUEUE_LOST, [at, olderThanMs, limit, movesFrom('claim')])
