import {
  type Candidate,
  type Claimed,
  type ClaimPolicy,
  flowKeyId,
  type KeyRoom,
  planClaim,
} from '@request-tasker/application'
import { movesFrom, originOf, type TaskId, type WaitReason } from '@request-tasker/domain'
import type pg from 'pg'
import { inTransaction } from '../transaction.js'
import { lockFlowKeys, saveFlowStates } from './flow-keys.js'
import { type TaskRow, toTask } from './task-row.js'

// A claim is one transaction: lock the claimable tasks (the status guard, re-checked after the row lock, makes a
// redelivered or concurrent claim of a task take nothing, so it sends nothing), lock their flow-control keys, let
// planClaim decide who goes, then write it all. Every tasker decides on the same locked state, so a key's rate and
// parallelism hold in total, however many taskers claim its tasks.

// Rows of the previous release have no flow key: they count against their origin (computed from the url).
const LOCK_CANDIDATES = `
  select id, owner_key_id, flow_key, flow_reservation, url, coalesce($3::timestamptz, now()) as now
  from tasks
  where id = any($1::uuid[]) and status = any($2::text[])
  order by id
  for update`

const APPLY_CLAIM = `
  with claimed as (
    update tasks t
    set status = 'in_process', attempts = t.attempts + 1, updated_at = $1::timestamptz, flow_reservation = null,
        lease_until = $1::timestamptz + (t.timeout_ms + $3::integer) * interval '1 millisecond'
    where t.id = any($2::uuid[])
    returning t.*
  ), held as (
    update tasks t
    set status = 'scheduled', wait_reason = h.reason, run_at = h.run_at, flow_reservation = h.reservation,
        updated_at = $1::timestamptz
    from unnest($4::uuid[], $5::text[], $6::timestamptz[], $7::integer[]) as h (id, reason, run_at, reservation)
    where t.id = h.id
    returning t.id, h.reason
  ), history as (
    insert into task_statuses (task_id, status, at, reason)
    select id, 'in_process', $1::timestamptz, null from claimed
    union all
    select id, 'scheduled', $1::timestamptz, reason from held
  )
  select * from claimed`

type CandidateRow = {
  id: TaskId
  owner_key_id: string
  flow_key: string | null
  flow_reservation: number | null
  url: string
  now: Date
}

export async function claimTasks(
  pool: pg.Pool,
  at: Date | null,
  ids: readonly TaskId[],
  policy: ClaimPolicy,
  room: KeyRoom,
): Promise<Claimed> {
  if (ids.length === 0) return { claimed: [], deferred: [] }
  return inTransaction(pool, async (tx) => {
    const found = await tx.query<CandidateRow>(LOCK_CANDIDATES, [ids, movesFrom('claim'), at])
    if (found.rows.length === 0) return { claimed: [], deferred: [] }
    const now = found.rows[0]!.now
    const candidates: Candidate[] = found.rows.map((r) => ({
      id: r.id,
      ownerKeyId: r.owner_key_id,
      flowKey: r.flow_key ?? originOf(r.url),
      reservation: r.flow_reservation,
    }))
    const keys = await lockFlowKeys(tx, now, distinctKeys(candidates))
    const plan = planClaim(candidates, keys, room, now, policy)
    await saveFlowStates(tx, plan.keys)
    const { rows } = await tx.query<TaskRow>(APPLY_CLAIM, [
      now,
      plan.claim,
      policy.leaseGraceMs,
      plan.hold.map((h) => h.id),
      plan.hold.map((h) => h.reason),
      plan.hold.map((h) => h.runAt),
      plan.hold.map((h) => h.reservation),
    ])
    const deferred = plan.hold.map((h) => ({ id: h.id, ownerKeyId: h.ownerKeyId, reason: h.reason as WaitReason }))
    return { claimed: rows.map(toTask), deferred }
  })
}

export function distinctKeys(items: ReadonlyArray<{ ownerKeyId: string; flowKey: string }>) {
  const keys = new Map<string, { ownerKeyId: string; key: string }>()
  for (const { ownerKeyId, flowKey } of items) keys.set(flowKeyId(ownerKeyId, flowKey), { ownerKeyId, key: flowKey })
  return [...keys.values()].sort((a, b) => a.ownerKeyId.localeCompare(b.ownerKeyId) || a.key.localeCompare(b.key))
}
