import type { FlowState } from '@request-tasker/domain'
import type { Queryable } from '../pool.js'

/** A row of `flow_keys` as pg returns it. */
export type FlowKeyRow = {
  owner_key_id: string
  key: string
  rate: number | null
  period_ms: number
  burst: number | null
  parallelism: number | null
  paused: boolean
  tokens: number
  send_tokens: number
  refilled_at: Date
  epoch: number
  adaptive_rate: number | null
  adapted_at: Date | null
  blocked_until: Date | null
  circuit: FlowState['circuit']['state']
  circuit_failures: number
  circuit_until: Date | null
  recent_since: Date
  recent_sends: number
  recent_throttled: number
  recent_failures: number
  pace_since: Date
  pace_answered: number
  pace_before: number
}

export function toFlowState(row: FlowKeyRow): FlowState {
  return {
    limits: { rate: row.rate, periodMs: row.period_ms, burst: row.burst, parallelism: row.parallelism },
    paused: row.paused,
    tokens: row.tokens,
    sendTokens: row.send_tokens,
    refilledAt: row.refilled_at,
    epoch: row.epoch,
    adaptiveRate: row.adaptive_rate,
    adaptedAt: row.adapted_at,
    blockedUntil: row.blocked_until,
    circuit: { state: row.circuit, failures: row.circuit_failures, until: row.circuit_until },
    recent: {
      since: row.recent_since,
      sends: row.recent_sends,
      throttled: row.recent_throttled,
      failures: row.recent_failures,
    },
    pace: { since: row.pace_since, answered: row.pace_answered, before: row.pace_before },
  }
}

// The keys a claim or an outcome touches, made if missing and locked in one order (owner, key) so two taskers never
// wait on each other's locks the other way round. A new key starts with full buckets, from the database's clock.
const LOCK_KEYS = `
  insert into flow_keys (owner_key_id, key, tokens, send_tokens, refilled_at, recent_since, pace_since)
  select owner_key_id, key, 1, 1, coalesce($3::timestamptz, now()), coalesce($3::timestamptz, now()),
         coalesce($3::timestamptz, now())
  from unnest($1::text[], $2::text[]) as k (owner_key_id, key)
  order by owner_key_id, key
  on conflict (owner_key_id, key) do update set owner_key_id = excluded.owner_key_id
  returning *`

// Each key's sends in flight on every tasker, counted once its row is locked, in a statement of its own: a
// statement that waited for the lock still reads from the snapshot it started with, which may miss the tasks that
// another tasker's claim, committed meanwhile, has just put in flight.
const IN_FLIGHT = `
  select k.owner_key_id, k.key,
    (select count(*)::int from tasks t
     where t.owner_key_id = k.owner_key_id and t.flow_key = k.key and t.status = 'in_process') as in_flight
  from unnest($1::text[], $2::text[]) as k (owner_key_id, key)`

export type LockedKey = { ownerKeyId: string; key: string; state: FlowState; inFlight: number }

export async function lockFlowKeys(
  db: Queryable,
  at: Date | null,
  keys: ReadonlyArray<{ ownerKeyId: string; key: string }>,
): Promise<LockedKey[]> {
  if (keys.length === 0) return []
  const owners = keys.map((k) => k.ownerKeyId)
  const names = keys.map((k) => k.key)
  const locked = await db.query<FlowKeyRow>(LOCK_KEYS, [owners, names, at])
  const counted = await db.query<{ owner_key_id: string; key: string; in_flight: number }>(IN_FLIGHT, [owners, names])
  const inFlight = new Map(counted.rows.map((r) => [JSON.stringify([r.owner_key_id, r.key]), r.in_flight]))
  return locked.rows.map((row) => ({
    ownerKeyId: row.owner_key_id,
    key: row.key,
    state: toFlowState(row),
    inFlight: inFlight.get(JSON.stringify([row.owner_key_id, row.key])) ?? 0,
  }))
}

// The live state only: the limits and the pause are the owner's, written by the flow-control routes.
const SAVE_STATES = `
  update flow_keys f
  set tokens = s.tokens, send_tokens = s.send_tokens, refilled_at = s.refilled_at, epoch = s.epoch,
      adaptive_rate = s.adaptive_rate, adapted_at = s.adapted_at, blocked_until = s.blocked_until, circuit = s.circuit, circuit_failures = s.circuit_failures,
      circuit_until = s.circuit_until, recent_since = s.recent_since, recent_sends = s.recent_sends,
      recent_throttled = s.recent_throttled, recent_failures = s.recent_failures, pace_since = s.pace_since,
      pace_answered = s.pace_answered, pace_before = s.pace_before
  from unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[], $5::float8[], $6::timestamptz[],
              $7::timestamptz[], $8::text[], $9::integer[], $10::timestamptz[], $11::timestamptz[], $12::integer[],
              $13::integer[], $14::integer[], $15::timestamptz[], $16::integer[], $17::integer[], $18::integer[],
              $19::float8[])
    as s (owner_key_id, key, tokens, refilled_at, adaptive_rate, adapted_at, blocked_until, circuit,
          circuit_failures, circuit_until, recent_since, recent_sends, recent_throttled, recent_failures, pace_since,
          pace_answered, pace_before, epoch, send_tokens)
  where f.owner_key_id = s.owner_key_id and f.key = s.key`

export async function saveFlowStates(db: Queryable, keys: ReadonlyArray<Omit<LockedKey, 'inFlight'>>) {
  if (keys.length === 0) return
  const col = <T>(pick: (k: Omit<LockedKey, 'inFlight'>) => T) => keys.map(pick)
  await db.query(SAVE_STATES, [
    col((k) => k.ownerKeyId),
    col((k) => k.key),
    col((k) => k.state.tokens),
    col((k) => k.state.refilledAt),
    col((k) => k.state.adaptiveRate),
    col((k) => k.state.adaptedAt),
    col((k) => k.state.blockedUntil),
    col((k) => k.state.circuit.state),
    col((k) => k.state.circuit.failures),
    col((k) => k.state.circuit.until),
    col((k) => k.state.recent.since),
    col((k) => k.state.recent.sends),
    col((k) => k.state.recent.throttled),
    col((k) => k.state.recent.failures),
    col((k) => k.state.pace.since),
    col((k) => k.state.pace.answered),
    col((k) => k.state.pace.before),
    col((k) => k.state.epoch),
    col((k) => k.state.sendTokens),
  ])
}
