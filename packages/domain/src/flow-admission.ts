import {
  burstOf,
  type FlowDefaults,
  type FlowState,
  type FlowWaitReason,
  ratePerMs,
  refill,
  rollMinute,
} from './flow-control.js'

// Admission: at each claim, which of a key's tasks go now, and when each of the others comes back.

/** A claim takes a task whose send token comes within this long, and the tasker sends it when the token is there. */
export const SEND_AHEAD_MS = 250

/** What a claim decides for one task of a key: it goes, or it waits (why, until when, holding which reservation). */
export type Decision =
  /** `delayMs`: how long the tasker waits before sending it, for its key's next send token (see admit). */
  | { readonly go: true; readonly delayMs: number }
  /** Its key would take it, but its owner has no free send slot in this tasker (see planClaim). */
  | { readonly go: false; readonly reason: 'key-busy' }
  | {
      readonly go: false
      readonly reason: FlowWaitReason
      readonly runAt: Date
      /** The key's epoch when the task was given a place in the rate's queue; null: it holds none. */
      readonly reservation: number | null
    }

export type Admission = {
  /** One per task asked about, in the order asked. */
  readonly decisions: readonly Decision[]
  readonly admitted: number
  readonly state: FlowState
}

/** What else bounds a claim: the key's sends in flight on every tasker, and the owner's free slots in this one. */
export type ClaimRoom = { readonly inFlight: number; readonly slots: number }

/**
 * Which of a key's tasks may be sent now. Each task comes with the reservation it holds (see Decision), if any.
 *
 * The rate is kept by two token buckets that fill alike. The queue's bucket (`tokens`) may go below zero: a task
 * that finds no token there is given the next place in the key's queue (a reservation) and waits until that token
 * will have been earned, so the tasks held by successive claims come back one after another, each once, at the
 * key's pace, and a newcomer queues behind them. The sends' bucket (`sendTokens`) times every send: each takes
 * its own token and goes when that token is there (a claim takes a task whose token comes within SEND_AHEAD_MS and
 * says how long to wait, `delayMs`), so however late and close together tasks come back, the destination never gets
 * more than the rate and the burst. A task that comes back to its place and cannot go then (parallelism, pause,
 * circuit, no slot) gives its place's token back. A task waiting for a free slot of the key comes back when a send of the key ends (which wakes it) or after
 * `waitMs`.
 */
export function admit(
  state: FlowState,
  reservations: ReadonlyArray<number | null>,
  room: ClaimRoom,
  now: Date,
  defaults: FlowDefaults,
): Admission {
  let s = rollMinute(refill(state, now), now)
  const decisions: Decision[] = new Array(reservations.length)
  const holds = (i: number) => reservations[i] !== null && reservations[i] === s.epoch
  // Places in the queue first: they were there before any task of this claim.
  const order = [...reservations.keys()].sort((a, b) => Number(holds(b)) - Number(holds(a)))
  const giveBack = (i: number) => {
    if (holds(i)) s = { ...s, tokens: Math.min(burstOf(s.limits), s.tokens + 1) }
  }
  const later = (ms: number) => new Date(now.getTime() + ms)
  const holdAll = (reason: FlowWaitReason, runAt: Date): Admission => {
    for (const i of order) {
      giveBack(i)
      decisions[i] = { go: false, reason, runAt, reservation: null }
    }
    return { decisions, admitted: 0, state: s }
  }
  if (s.paused) return holdAll('paused', later(defaults.waitMs))

  const { circuit } = s
  if (circuit.state === 'open' && circuit.until !== null && circuit.until > now)
    return holdAll('circuit-open', circuit.until)
  let probes = Number.POSITIVE_INFINITY
  if (circuit.state !== 'closed') {
    // The cool-down is over: one probe goes; the rest wait to hear how it went.
    if (room.inFlight > 0 || circuit.state === 'half-open') {
      return holdAll('circuit-open', later(defaults.breaker.coolDownMs))
    }
    s = { ...s, circuit: { ...circuit, state: 'half-open' } }
    probes = 1
  }

  const perMs = ratePerMs(s)
  const blocked = s.blockedUntil !== null && s.blockedUntil > now
  // Both buckets were filled up to `refilledAt`, which a claim that waited for the key's lock may find ahead of its
  // own `now`: times are counted from there.
  const base = Math.max(now.getTime(), s.refilledAt.getTime())
  /** How long from now until the sends' bucket holds the token of the next send (0: it holds it now). */
  const sendWait = () => (perMs === null ? 0 : base - now.getTime() + Math.ceil(Math.max(0, 1 - s.sendTokens) / perMs))
  let free = Math.min(probes, Math.max(0, (s.limits.parallelism ?? defaults.parallelism) - room.inFlight))
  let slots = room.slots
  let admitted = 0
  for (const i of order) {
    const reserved = holds(i)
    const wait = sendWait()
    // Its turn: no place to wait for in the queue (it holds one, or the queue is empty), and its send token comes
    // within SEND_AHEAD_MS: the tasker sends it then (`delayMs`), rather than a trip through Postgres and Kafka
    // that takes longer than a fast key's spacing and would miss it.
    const turn = perMs === null || reserved || s.tokens >= 1
    if (!blocked && free > 0 && turn && wait <= SEND_AHEAD_MS) {
      if (slots <= 0) {
        giveBack(i)
        decisions[i] = { go: false, reason: 'key-busy' }
        continue
      }
      if (perMs !== null) s = { ...s, sendTokens: s.sendTokens - 1, tokens: reserved ? s.tokens : s.tokens - 1 }
      free--
      slots--
      admitted++
      decisions[i] = { go: true, delayMs: wait }
      continue
    }
    if (!blocked && free <= 0) {
      giveBack(i)
      decisions[i] =
        probes === 1
          ? { go: false, reason: 'circuit-open', runAt: later(defaults.breaker.coolDownMs), reservation: null }
          : { go: false, reason: 'parallelism', runAt: later(defaults.waitMs), reservation: null }
      continue
    }
    if (perMs === null) {
      // Held by a Retry-After with no rate to pace the return: all together when it ends.
      decisions[i] = { go: false, reason: 'rate-limited', runAt: s.blockedUntil ?? now, reservation: null }
      continue
    }
    // Back when its send token is half SEND_AHEAD_MS away, at the soonest: its way back through Postgres and Kafka
    // takes a while, and whether it comes a little early or late, the claim then still finds the token in reach.
    const tokenInReach = now.getTime() + Math.max(0, wait - SEND_AHEAD_MS / 2)
    if (reserved && !blocked) {
      // At its place, behind sends already given their time: it keeps its place.
      decisions[i] = { go: false, reason: 'rate-limited', runAt: new Date(tokenInReach), reservation: s.epoch }
      continue
    }
    giveBack(i)
    // The next place in the queue: when the queue's bucket will have earned this token. While a Retry-After holds
    // the key both buckets are still (refilledAt lies ahead), so the queue starts where the wait ends.
    const place = base + Math.ceil(Math.max(0, 1 - s.tokens) / perMs)
    const runAt = Math.max(place - SEND_AHEAD_MS / 2, tokenInReach, s.blockedUntil?.getTime() ?? 0)
    s = { ...s, tokens: s.tokens - 1 }
    decisions[i] = { go: false, reason: 'rate-limited', runAt: new Date(runAt), reservation: s.epoch }
  }
  s = { ...s, recent: { ...s.recent, sends: s.recent.sends + admitted } }
  return { decisions, admitted, state: s }
}
