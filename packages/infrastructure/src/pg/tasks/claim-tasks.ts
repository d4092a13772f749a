import {
  type Candidate,
  type Claimed,
  type ClaimPolicy,
  expiredLetterOf,
  flowKeyId,
  type KeyRoom,
  planClaim,
} from '@request-tasker/application'
import { callbackDocument, movesFrom, originOf, type TaskId, type WaitReason } from '@request-tasker/domain'
import type pg from 'pg'
import { inTransaction } from '../transaction.js'
import { callbackTasksOf } from './callback-tasks.js'
import { type ResultRow, toAttempt } from './find-task.js'
import { lockFlowKeys, saveFlowStates } from './flow-keys.js'
import { type TaskRow, toTask } from './task-row.js'

// A claim is one transaction: lock the claimable tasks (the status guard, re-checked after the row lock, makes a
// redelivered or concurrent claim of a task take nothing, so it sends nothing), lock their flow-control keys, let
// planClaim decide who goes, then write it all. Every tasker decides on the same locked state, so a key's rate and
// parallelism hold in total, however many taskers claim its tasks.

// Rows of the previous release have no flow key: they count against their origin (computed from the url).
const LOCK_CANDIDATES = `
  select id, owner_key_id, flow_key, flow_reservation, url, expires_at, coalesce($3::timestamptz, now()) as now
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
  ), expired as (
    -- Past its deadline: never sent; it ends here, announced by its dead letter and callback in the same write.
    update tasks t
    set status = 'error', end_code = 'expired', run_at = null, wait_reason = null, updated_at = $1::timestamptz
    from unnest($8::uuid[], $9::jsonb[], $10::jsonb[]) as e (id, dead_letter, document)
    where t.id = e.id
    returning t.id, e.dead_letter, e.document
  ), history as (
    insert into task_statuses (task_id, status, at, reason)
    select id, 'in_process', $1::timestamptz, null from claimed
    union all
    select id, 'scheduled', $1::timestamptz, reason from held
    union all
    select id, 'error', $1::timestamptz, null from expired
  ), expired_letters as (
    insert into outbox (kind, task_id, payload) select 'task.dead-lettered', id, dead_letter from expired
  ), ended as (
    select id, 'error' as status, document from expired where document is not null
  ),${callbackTasksOf('ended', '$1::timestamptz')}
  select *, clock_timestamp() as decided_at from claimed`

// What an expired task's dead letter and callback tell: its deadline, and its last attempt if it had one.
const EXPIRING = `
  select t.id, t.attempts, t.expires_at, jsonb_typeof(t.callbacks -> 'error') = 'object' as has_callback,
         r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body, r.body_truncated,
         r.error_code, r.error_message
  from tasks t
  left join lateral (
    select * from task_results r where r.task_id = t.id order by r.attempt desc limit 1
  ) r on true
  where t.id = any($1::uuid[])`

type CandidateRow = {
  id: TaskId
  owner_key_id: string
  flow_key: string | null
  flow_reservation: number | null
  url: string
  expires_at: Date | null
  now: Date
}

type ExpiringRow = ResultRow & { id: TaskId; attempts: number; expires_at: Date; has_callback: boolean | null }

export async function claimTasks(
  pool: pg.Pool,
  at: Date | null,
  ids: readonly TaskId[],
  policy: ClaimPolicy,
  room: KeyRoom,
): Promise<Claimed> {
  if (ids.length === 0) return { claimed: [], deferred: [], expired: [] }
  return inTransaction(pool, async (tx) => {
    const found = await tx.query<CandidateRow>(LOCK_CANDIDATES, [ids, movesFrom('claim'), at])
    if (found.rows.length === 0) return { claimed: [], deferred: [], expired: [] }
    const now = found.rows[0]!.now
    const candidates: Candidate[] = found.rows.map((r) => ({
      id: r.id,
      ownerKeyId: r.owner_key_id,
      flowKey: r.flow_key ?? originOf(r.url),
      reservation: r.flow_reservation,
      expiresAt: r.expires_at,
    }))
    const keys = await lockFlowKeys(tx, now, distinctKeys(candidates))
    const plan = planClaim(candidates, keys, room, now, policy)
    await saveFlowStates(tx, plan.keys)
    const ends = plan.expire.length === 0 ? [] : await endsOf(tx, plan.expire)
    const { rows } = await tx.query<TaskRow & { decided_at: Date }>(APPLY_CLAIM, [
      now,
      plan.claim,
      policy.leaseGraceMs,
      plan.hold.map((h) => h.id),
      plan.hold.map((h) => h.reason),
      plan.hold.map((h) => h.runAt),
      plan.hold.map((h) => h.reservation),
      ends.map((e) => e.id),
      ends.map((e) => JSON.stringify(e.deadLetter)),
      ends.map((e) => (e.document ? JSON.stringify(e.document) : null)),
    ])
    const deferred = plan.hold.map((h) => ({ id: h.id, ownerKeyId: h.ownerKeyId, reason: h.reason as WaitReason }))
    // A send's wait was counted from the claim's start; the tasker starts waiting once this statement is done (a
    // pinned clock, in tests, does not move).
    const spent = at === null && rows[0] ? rows[0].decided_at.getTime() - now.getTime() : 0
    const sendDelays = new Map([...plan.delays].map(([id, ms]) => [id, Math.max(0, ms - spent)]))
    return { claimed: rows.map(toTask), sendDelays, deferred, expired: [...plan.expire] }
  })
}

async function endsOf(tx: pg.PoolClient, ids: readonly TaskId[]) {
  const { rows } = await tx.query<ExpiringRow>(EXPIRING, [ids])
  return rows.map((row) => {
    const attempt = row.attempt === null ? null : toAttempt(row.id, row)
    const deadLetter = expiredLetterOf(row.id, row.expires_at, attempt, row.attempts)
    const document = row.has_callback
      ? callbackDocument({ taskId: row.id, status: 'error', attemptCount: row.attempts, attempt, endCode: 'expired' })
      : null
    return { id: row.id, deadLetter, document }
  })
}

export function distinctKeys(items: ReadonlyArray<{ ownerKeyId: string; flowKey: string }>) {
  const keys = new Map<string, { ownerKeyId: string; key: string }>()
  for (const { ownerKeyId, flowKey } of items) keys.set(flowKeyId(ownerKeyId, flowKey), { ownerKeyId, key: flowKey })
  return [...keys.values()].sort((a, b) => a.ownerKeyId.localeCompare(b.ownerKeyId) || a.key.localeCompare(b.key))
}
