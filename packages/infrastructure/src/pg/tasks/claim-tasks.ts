import type { Claimed, KeyRoom } from '@request-tasker/application'
import { movesFrom, type TaskId } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'
import { type TaskRow, toTask } from './task-row.js'

// The status guard ($8: the statuses a claim takes a task from, re-checked after the row lock) makes a redelivered
// or concurrent claim of a task take nothing, so it sends nothing. Per key, the oldest tasks go first, as many as the key has room for; the
// others wait `scheduled` as `key-busy` instead of holding a slot, and are woken when one frees (wakeKeyBusy).
const CLAIM_TASKS = `
  with candidate as (
    select id, owner_key_id from tasks
    where id = any($2::uuid[]) and status = any($8::text[])
    for update
  ), ranked as (
    select id, owner_key_id, row_number() over (partition by owner_key_id order by id) as place
    from candidate
  ), chosen as (
    select ranked.id
    from ranked left join unnest($4::text[], $5::integer[]) as room (owner_key_id, slots) using (owner_key_id)
    where ranked.place <= coalesce(room.slots, $6::integer)
  ), claimed as (
    update tasks t
    set status = 'in_process', attempts = t.attempts + 1, updated_at = coalesce($1::timestamptz, now()),
        lease_until = coalesce($1::timestamptz, now()) + (t.timeout_ms + $3::integer) * interval '1 millisecond'
    from chosen
    where t.id = chosen.id
    returning t.*
  ), deferred as (
    update tasks t
    set status = 'scheduled', wait_reason = 'key-busy', updated_at = coalesce($1::timestamptz, now()),
        run_at = coalesce($1::timestamptz, now()) + $7::integer * interval '1 millisecond'
    from candidate
    where t.id = candidate.id and candidate.id not in (select id from chosen)
    returning t.id, t.owner_key_id
  ), history as (
    insert into task_statuses (task_id, status, at, reason)
    select id, 'in_process', coalesce($1::timestamptz, now()), null from claimed
    union all
    select id, 'scheduled', coalesce($1::timestamptz, now()), 'key-busy' from deferred
  )
  select claimed.*, null::uuid as deferred_id, null::text as deferred_owner from claimed
  union all
  select (null::tasks).*, id, owner_key_id from deferred`

// A task a claim leaves waiting for its key goes from the same statuses (MOVES.waitForKey).
const CLAIMABLE = movesFrom('claim')

type ClaimRow = TaskRow & { deferred_id: TaskId | null; deferred_owner: string | null }

export async function claimTasks(
  db: Queryable,
  at: Date | null,
  ids: readonly TaskId[],
  { leaseGraceMs, keyBusyWaitMs }: { leaseGraceMs: number; keyBusyWaitMs: number },
  room: KeyRoom,
): Promise<Claimed> {
  if (ids.length === 0) return { claimed: [], deferred: [] }
  const owners = [...room.byOwner.keys()]
  const { rows } = await db.query<ClaimRow>(CLAIM_TASKS, [
    at,
    ids,
    leaseGraceMs,
    owners,
    owners.map((o) => room.byOwner.get(o)),
    room.others,
    keyBusyWaitMs,
    CLAIMABLE,
  ])
  const claimed = rows.filter((r) => r.deferred_id === null).map(toTask)
  const deferred = rows.flatMap((r) =>
    r.deferred_id === null ? [] : [{ id: r.deferred_id, ownerKeyId: r.deferred_owner! }],
  )
  return { claimed, deferred }
}
