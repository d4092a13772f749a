import { type CircuitChange, type FlowObservation, planOutcomes } from '@request-tasker/application'
import { type FlowDefaults, movesFrom } from '@request-tasker/domain'
import type pg from 'pg'
import { inTransaction } from '../transaction.js'
import { distinctKeys } from './claim-tasks.js'
import { lockFlowKeys, saveFlowStates } from './flow-keys.js'

// Per key, as many of its tasks waiting for a free slot as its sends that ended, oldest wait first, back to `new`
// and queued. skip locked: a task a claim holds right now is that claim's.
const WAKE_FOR_SLOTS = `
  with woken as (
    select t.id
    from unnest($1::text[], $2::text[], $3::integer[]) as w (owner_key_id, key, n)
    cross join lateral (
      select id from tasks
      where status = any($4::text[]) and wait_reason = 'parallelism' and owner_key_id = w.owner_key_id
        and flow_key = w.key
      order by run_at
      limit w.n
      for update skip locked
    ) t
  ), moved as (
    update tasks t set status = 'new', run_at = null, wait_reason = null, updated_at = $5::timestamptz
    from woken where t.id = woken.id
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'new', $5::timestamptz from moved
  )
  insert into outbox (kind, task_id) select 'task.requested', id from moved`

/** One transaction: the keys locked, their states moved on by the outcomes, and the slots that freed handed on. */
export async function observeOutcomes(
  pool: pg.Pool,
  at: Date | null,
  observations: readonly FlowObservation[],
  flow: FlowDefaults,
): Promise<{ changes: CircuitChange[]; woken: number }> {
  if (observations.length === 0) return { changes: [], woken: 0 }
  return inTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ now: Date }>('select coalesce($1::timestamptz, now()) as now', [at])
    const now = rows[0]!.now
    const keys = await lockFlowKeys(tx, now, distinctKeys(observations))
    const plan = planOutcomes(observations, keys, now, flow)
    await saveFlowStates(tx, plan.keys)
    const ended = plan.ended.filter((e) => e.sends > 0)
    const { rowCount } = await tx.query(WAKE_FOR_SLOTS, [
      ended.map((e) => e.ownerKeyId),
      ended.map((e) => e.key),
      ended.map((e) => e.sends),
      movesFrom('promote'),
      now,
    ])
    return { changes: [...plan.changes], woken: rowCount ?? 0 }
  })
}
