import { type FlowControls, type FlowControlView, flowControlView } from '@request-tasker/application'
import type { FlowWaitReason } from '@request-tasker/domain'
import type pg from 'pg'
import { type FlowKeyRow, toFlowState } from './tasks/flow-keys.js'
import { instantOf, type StoreClock } from './tasks/task-row.js'
import { inTransaction } from './transaction.js'

// A key as its owner reads it: the row, its sends in flight and its waiting tasks by reason, all from the indexes
// on the key's in_process and scheduled tasks.
const VIEW = `
  select f.*, coalesce($3::timestamptz, now()) as now,
    (select count(*)::int from tasks t
     where t.owner_key_id = f.owner_key_id and t.flow_key = f.key and t.status = 'in_process') as in_flight,
    (select coalesce(jsonb_object_agg(w.wait_reason, w.n), '{}') from (
       select t.wait_reason, count(*)::int as n from tasks t
       where t.owner_key_id = f.owner_key_id and t.flow_key = f.key and t.status = 'scheduled'
         and t.wait_reason in ('rate-limited', 'parallelism', 'paused', 'circuit-open')
       group by t.wait_reason) w) as waiting
  from flow_keys f`

const PACE_CHANGED = `(flow_keys.rate, flow_keys.period_ms, flow_keys.burst)
  is distinct from (excluded.rate, excluded.period_ms, excluded.burst)`
const PUT = `
  insert into flow_keys (owner_key_id, key, rate, period_ms, burst, parallelism, configured_at, tokens, send_tokens,
                         refilled_at, recent_since, pace_since)
  select $1, $2, $3, $4, $5, $6, t.now, coalesce($5::integer, 1), coalesce($5::integer, 1), t.now, t.now, t.now
  from (select coalesce($7::timestamptz, now()) as now) t
  on conflict (owner_key_id, key) do update
    set rate = excluded.rate, period_ms = excluded.period_ms, burst = excluded.burst,
        parallelism = excluded.parallelism, configured_at = excluded.configured_at,
        -- A new pace voids the places given in the rate's queue, and their debt (domain: withLimits).
        epoch = flow_keys.epoch + case when ${PACE_CHANGED} then 1 else 0 end,
        tokens = case when ${PACE_CHANGED} then greatest(flow_keys.tokens, 0) else flow_keys.tokens end`

const SET_PAUSED = `
  insert into flow_keys (owner_key_id, key, paused, refilled_at, recent_since, pace_since)
  select $1, $2, $3, t.now, t.now, t.now from (select coalesce($4::timestamptz, now()) as now) t
  on conflict (owner_key_id, key) do update set paused = excluded.paused`

// Paused tasks come due now: the scheduler queues them, and their claims meet the key's limits as any other.
const RELEASE_PAUSED = `
  update tasks set run_at = coalesce($3::timestamptz, now())
  where status = 'scheduled' and wait_reason = 'paused' and owner_key_id = $1 and flow_key = $2`

type ViewRow = FlowKeyRow & {
  now: Date
  in_flight: number
  waiting: Partial<Record<FlowWaitReason, number>>
  configured_at: Date | null
}

/** `clock` is for tests only: it pins the instant the statements run at, which is otherwise the database's. */
export function pgFlowControls(pool: pg.Pool, { clock }: { clock?: StoreClock } = {}): FlowControls {
  const at = () => instantOf(clock)
  async function get(db: pg.Pool | pg.PoolClient, ownerKeyId: string, key: string) {
    const { rows } = await db.query<ViewRow>(`${VIEW} where f.owner_key_id = $1 and f.key = $2`, [
      ownerKeyId,
      key,
      at(),
    ])
    return rows[0] ? toView(rows[0]) : null
  }
  return {
    async put(ownerKeyId, key, limits) {
      await pool.query(PUT, [ownerKeyId, key, limits.rate, limits.periodMs, limits.burst, limits.parallelism, at()])
      return (await get(pool, ownerKeyId, key))!
    },
    get: (ownerKeyId, key) => get(pool, ownerKeyId, key),
    async list(ownerKeyId, after, limit) {
      const { rows } = await pool.query<ViewRow>(
        `${VIEW} where f.owner_key_id = $1 and f.key > coalesce($2, '') order by f.key limit $4`,
        [ownerKeyId, after, at(), limit + 1],
      )
      const items = rows.slice(0, limit).map(toView)
      return { items, next: rows.length > limit ? items.at(-1)!.key : null }
    },
    remove: (ownerKeyId, key) =>
      inTransaction(pool, async (tx) => {
        const { rowCount } = await tx.query('delete from flow_keys where owner_key_id = $1 and key = $2', [
          ownerKeyId,
          key,
        ])
        await tx.query(RELEASE_PAUSED, [ownerKeyId, key, at()])
        return (rowCount ?? 0) > 0
      }),
    setPaused: (ownerKeyId, key, paused) =>
      inTransaction(pool, async (tx) => {
        await tx.query(SET_PAUSED, [ownerKeyId, key, paused, at()])
        if (!paused) await tx.query(RELEASE_PAUSED, [ownerKeyId, key, at()])
        return (await get(tx, ownerKeyId, key))!
      }),
  }
}

function toView(row: ViewRow): FlowControlView {
  return flowControlView(row.key, toFlowState(row), {
    now: row.now,
    inFlight: row.in_flight,
    waiting: row.waiting,
    configuredAt: row.configured_at,
  })
}
