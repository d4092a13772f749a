import type { SendOutcome } from './attempt.js'
import { parseRetryAfter } from './retry-policy.js'

// Flow control: how fast, and how many at once, one destination may be sent to. Every task has a flow-control key
// (by default its URL's origin, scoped to the API key that owns it); the key's state below decides, at each claim,
// how many of its tasks may go now and when each of the others should come back. Pure functions: the store keeps the
// state, locked while a claim or an outcome changes it, so every tasker sees the same limits.

/** What an owner set for a key; each absent part falls back to the deployment's defaults (FlowDefaults). */
export type FlowLimits = {
  /** Requests per `periodMs`, on average; null: no rate limit of its own. */
  readonly rate: number | null
  readonly periodMs: number
  /** Requests that may go at once after a quiet spell; by default 1 (evenly spaced). */
  readonly burst: number | null
  /** Requests in flight at once, across every tasker; null: the default parallelism. */
  readonly parallelism: number | null
}

export type CircuitState = 'closed' | 'open' | 'half-open'

/** A key's live state, as the store keeps it. */
export type FlowState = {
  readonly limits: FlowLimits
  readonly paused: boolean
  /** The token bucket: its level at `refilledAt`, below zero by the places given in the rate's queue. */
  readonly tokens: number
  /** The sends' bucket, filled alike but never overdrawn: what keeps the destination within the rate and burst. */
  readonly sendTokens: number
  readonly refilledAt: Date
  /**
   * Bumped when the pace changes (new limits, a back-off): places given in the queue before then no longer count,
   * and the tasks holding them take a new one.
   */
  readonly epoch: number
  /** Requests per second the key backs off to after a 429 or 503, growing back on success; null: none. */
  readonly adaptiveRate: number | null
  /** When the adaptive rate last changed: it grows with the time since. */
  readonly adaptedAt: Date | null
  /** A destination's Retry-After holds the whole key until then. */
  readonly blockedUntil: Date | null
  readonly circuit: { readonly state: CircuitState; readonly failures: number; readonly until: Date | null }
  /** Counters of the current minute: sends, 429/503 answers and failures. */
  readonly recent: {
    readonly since: Date
    readonly sends: number
    readonly throttled: number
    readonly failures: number
  }
  /** Outcomes that were not a 429 or 503, in the current second and the one before: the rate a destination took. */
  readonly pace: { readonly since: Date; readonly answered: number; readonly before: number }
}

export type FlowDefaults = {
  /** Requests in flight per key when its owner set none. */
  readonly parallelism: number
  /** Consecutive failures (no response, a timeout, a 5xx) that open the circuit, and how long it stays open. */
  readonly breaker: { readonly failures: number; readonly coolDownMs: number }
  /** Longest a task waits for a slot of its key, or for a paused key, before it is looked at again anyway. */
  readonly waitMs: number
}

/** Why a task waits for its key, as its history says. */
export type FlowWaitReason = 'rate-limited' | 'parallelism' | 'paused' | 'circuit-open'

/** Growth of the adaptive rate per second of sends without a 429 or 503: 10 %, so a few seconds test the ground. */
const ADAPTIVE_GROWTH_PER_S = 0.1
/** The adaptive rate never backs off below this (requests per second). */
const ADAPTIVE_FLOOR_PER_S = 0.2
/** Above this an unconfigured key's adaptive rate is dropped: the destination took all we sent. */
const ADAPTIVE_CEILING_PER_S = 10_000
/** A Retry-After longer than this is read as this: a key is held an hour at most. */
const MAX_BLOCK_MS = 60 * 60 * 1000
const MINUTE_MS = 60_000

export function newFlowState(now: Date, limits: FlowLimits = NO_LIMITS): FlowState {
  return {
    limits,
    paused: false,
    tokens: burstOf(limits),
    sendTokens: burstOf(limits),
    refilledAt: now,
    epoch: 0,
    adaptiveRate: null,
    adaptedAt: null,
    blockedUntil: null,
    circuit: { state: 'closed', failures: 0, until: null },
    recent: { since: now, sends: 0, throttled: 0, failures: 0 },
    pace: { since: now, answered: 0, before: 0 },
  }
}

export const NO_LIMITS: FlowLimits = { rate: null, periodMs: 1000, burst: null, parallelism: null }

/** New limits for a key. A new pace voids the places given in its rate's queue (see admit); its debt goes with them. */
export function withLimits(state: FlowState, limits: FlowLimits): FlowState {
  const { rate, periodMs, burst } = state.limits
  if (rate === limits.rate && periodMs === limits.periodMs && burst === limits.burst) return { ...state, limits }
  return { ...state, limits, epoch: state.epoch + 1, tokens: Math.max(state.tokens, 0) }
}

/** The rate the key's sends are held to now, per millisecond: the lower of the configured and the adaptive. */
export function ratePerMs(state: FlowState): number | null {
  const { rate, periodMs } = state.limits
  const configured = rate === null ? null : rate / periodMs
  const adaptive = state.adaptiveRate === null ? null : state.adaptiveRate / 1000
  if (configured === null) return adaptive
  return adaptive === null ? configured : Math.min(configured, adaptive)
}

function burstOf(limits: FlowLimits): number {
  return Math.max(1, limits.burst ?? 1)
}

/**
 * The bucket filled for the time since its last fill, up to the burst; unlimited keys keep theirs full. A bucket
 * whose `refilledAt` lies ahead (a Retry-After holds the key) earns nothing until then.
 */
export function refill(state: FlowState, now: Date): FlowState {
  const perMs = ratePerMs(state)
  const cap = burstOf(state.limits)
  if (perMs === null) {
    return { ...state, tokens: cap, sendTokens: cap, refilledAt: now > state.refilledAt ? now : state.refilledAt }
  }
  if (now <= state.refilledAt) return state
  const earned = (now.getTime() - state.refilledAt.getTime()) * perMs
  const tokens = Math.min(cap, state.tokens + earned)
  return { ...state, tokens, sendTokens: Math.min(cap, state.sendTokens + earned), refilledAt: now }
}

/** What a claim decides for one task of a key: it goes, or it waits (why, until when, holding which reservation). */
export type Decision =
  | { readonly go: true }
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
 * key's pace, and a newcomer queues behind them. The sends' bucket (`sendTokens`) is never overdrawn: every send
 * takes one of its tokens, so however late and close together tasks come back, the destination never gets more
 * than the rate and the burst; a task back at its place finding none waits for the next, keeping its place. A task
 * that comes back to its place and cannot go then (parallelism, pause, circuit, no slot) gives its place's token
 * back. A task waiting for a free slot of the key comes back when a send of the key ends (which wakes it) or after
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
  /** When the sends' bucket will hold its k-th next token (k = 1: the next one). */
  const sendTokenAt = (k: number) => now.getTime() + Math.ceil(Math.max(0, k - s.sendTokens) / (perMs as number))
  let free = Math.min(probes, Math.max(0, (s.limits.parallelism ?? defaults.parallelism) - room.inFlight))
  let slots = room.slots
  let admitted = 0
  let early = 0 // tasks back at their places this claim that wait for a send token
  for (const i of order) {
    const reserved = holds(i)
    const paced = perMs === null || (s.sendTokens >= 1 && (reserved || s.tokens >= 1))
    if (!blocked && free > 0 && paced) {
      if (slots <= 0) {
        giveBack(i)
        decisions[i] = { go: false, reason: 'key-busy' }
        continue
      }
      if (perMs !== null) s = { ...s, sendTokens: s.sendTokens - 1, tokens: reserved ? s.tokens : s.tokens - 1 }
      free--
      slots--
      admitted++
      decisions[i] = { go: true }
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
    if (reserved && !blocked) {
      early++
      decisions[i] = { go: false, reason: 'rate-limited', runAt: new Date(sendTokenAt(early)), reservation: s.epoch }
      continue
    }
    giveBack(i)
    // The next place in the queue: when the queue's bucket will have earned this token (and the sends' bucket holds
    // one). While a Retry-After holds the key both buckets are still (refilledAt lies ahead), so the queue starts
    // where the wait ends.
    const base = Math.max(now.getTime(), s.refilledAt.getTime())
    const runAt = Math.max(base + Math.ceil(Math.max(0, 1 - s.tokens) / perMs), sendTokenAt(1))
    s = { ...s, tokens: s.tokens - 1 }
    decisions[i] = { go: false, reason: 'rate-limited', runAt: new Date(runAt), reservation: s.epoch }
  }
  s = { ...s, recent: { ...s.recent, sends: s.recent.sends + admitted } }
  return { decisions, admitted, state: s }
}

/** What an outcome says about the destination, for its key. */
export type FlowSignal =
  | { readonly kind: 'ok' }
  /** A 429, or a 503 that asked to wait; `retryAfterMs` null when it named no time. */
  | { readonly kind: 'throttled'; readonly retryAfterMs: number | null }
  /** No response, a timeout, or a 5xx. */
  | { readonly kind: 'failed' }

/**
 * What an outcome tells about its destination. A 429, or a 503 with a Retry-After, throttles the key; no response, a
 * timeout or another 5xx is a failure for the breaker; any other answer is the destination doing well.
 */
export function signalOf(outcome: SendOutcome, now: Date): FlowSignal {
  if (outcome.kind === 'failure') return { kind: 'failed' }
  const retryAfter = outcome.headers.find(([name]) => name.toLowerCase() === 'retry-after')
  const retryAfterMs = retryAfter ? parseRetryAfter(retryAfter[1], now) : null
  if (outcome.httpStatusCode === 429 || (outcome.httpStatusCode === 503 && retryAfterMs !== null)) {
    return { kind: 'throttled', retryAfterMs }
  }
  return outcome.httpStatusCode >= 500 ? { kind: 'failed' } : { kind: 'ok' }
}

export type Transition = { readonly state: FlowState; readonly circuitChanged: CircuitState | null }

/**
 * The key's state after an outcome. A 429 or 503 slows the whole key, not only its task: the key waits until the
 * time asked and resumes at half the rate it had; sends that pass grow the rate back, 10 % a second, never above a
 * configured rate. A run of failures opens the circuit for the cool-down; a probe that passes closes it again.
 */
export function afterOutcome(state: FlowState, signal: FlowSignal, now: Date, defaults: FlowDefaults): Transition {
  let s = rollPace(rollMinute(refill(state, now), now), now)
  const { circuit } = s
  if (signal.kind === 'throttled') {
    const blockMs = Math.min(MAX_BLOCK_MS, signal.retryAfterMs ?? 1000)
    const until = new Date(now.getTime() + blockMs)
    // One back-off per episode: the answers of sends already in flight when the key was held say nothing new.
    const episode = s.blockedUntil === null || s.blockedUntil <= now
    const blockedUntil = s.blockedUntil !== null && s.blockedUntil > until ? s.blockedUntil : until
    s = {
      ...s,
      blockedUntil,
      // The bucket earns nothing while the key waits; a new episode starts a new queue at the new pace.
      refilledAt: blockedUntil,
      ...(episode && {
        tokens: Math.min(Math.max(s.tokens, 0), 1),
        sendTokens: Math.min(s.sendTokens, 1),
        epoch: s.epoch + 1,
      }),
      recent: { ...s.recent, throttled: s.recent.throttled + 1 },
      circuit: { ...circuit, failures: 0 },
      ...(episode && { adaptiveRate: Math.max(ADAPTIVE_FLOOR_PER_S, takenRatePerS(s) / 2), adaptedAt: now }),
    }
    return { state: s, circuitChanged: null }
  }
  s = { ...s, pace: { ...s.pace, answered: s.pace.answered + 1 } }
  if (signal.kind === 'failed') {
    const failures = circuit.failures + 1
    s = { ...s, recent: { ...s.recent, failures: s.recent.failures + 1 } }
    const trips = circuit.state === 'half-open' || (circuit.state === 'closed' && failures >= defaults.breaker.failures)
    if (!trips) return { state: { ...s, circuit: { ...circuit, failures } }, circuitChanged: null }
    const until = new Date(now.getTime() + defaults.breaker.coolDownMs)
    return { state: { ...s, circuit: { state: 'open', failures, until } }, circuitChanged: 'open' }
  }
  const closing = circuit.state !== 'closed'
  s = { ...s, circuit: { state: 'closed', failures: 0, until: null }, ...grown(s, now) }
  return { state: s, circuitChanged: closing ? 'closed' : null }
}

/**
 * The rate the destination took lately (outcomes not refused, in the last full second or this one), bounded by
 * the rate the key is held to: what a back-off halves.
 */
function takenRatePerS(state: FlowState): number {
  const taken = Math.max(state.pace.before, state.pace.answered, 1)
  const held = ratePerMs(state)
  return held === null ? taken : Math.min(taken, held * 1000)
}

function grown(state: FlowState, now: Date): Pick<FlowState, 'adaptiveRate' | 'adaptedAt'> {
  if (state.adaptiveRate === null) return { adaptiveRate: null, adaptedAt: null }
  const since = state.adaptedAt ?? now
  const seconds = Math.max(0, (now.getTime() - since.getTime()) / 1000)
  const next = state.adaptiveRate * (1 + ADAPTIVE_GROWTH_PER_S * seconds)
  const { rate, periodMs } = state.limits
  if (rate !== null) return { adaptiveRate: Math.min(next, (rate / periodMs) * 1000), adaptedAt: now }
  return next > ADAPTIVE_CEILING_PER_S
    ? { adaptiveRate: null, adaptedAt: null }
    : { adaptiveRate: next, adaptedAt: now }
}

/** A second has passed: this second's count becomes the one before. */
function rollPace(state: FlowState, now: Date): FlowState {
  const elapsed = now.getTime() - state.pace.since.getTime()
  if (elapsed < 1000) return state
  const before = elapsed < 2000 ? state.pace.answered : 0
  return { ...state, pace: { since: now, answered: 0, before } }
}

/** The minute's counters start again once a minute has passed, so the GET of a key reads the last minute. */
function rollMinute(state: FlowState, now: Date): FlowState {
  if (now.getTime() - state.recent.since.getTime() < MINUTE_MS) return state
  return { ...state, recent: { since: now, sends: 0, throttled: 0, failures: 0 } }
}
