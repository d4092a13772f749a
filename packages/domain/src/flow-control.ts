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
  /** The token bucket: its level at `refilledAt`. */
  readonly tokens: number
  readonly refilledAt: Date
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

/** What a claim may do with the tasks of one key: send the first `admitted`, and hold each of the others. */
export type Admission = {
  readonly admitted: number
  /** One entry per task held, in the order of the tasks: why, and when to look at it again. */
  readonly held: ReadonlyArray<{ readonly reason: FlowWaitReason; readonly runAt: Date }>
  readonly state: FlowState
}

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
    refilledAt: now,
    adaptiveRate: null,
    adaptedAt: null,
    blockedUntil: null,
    circuit: { state: 'closed', failures: 0, until: null },
    recent: { since: now, sends: 0, throttled: 0, failures: 0 },
    pace: { since: now, answered: 0, before: 0 },
  }
}

export const NO_LIMITS: FlowLimits = { rate: null, periodMs: 1000, burst: null, parallelism: null }

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

/** The bucket filled for the time since its last fill, up to the burst; unlimited keys keep theirs full. */
export function refill(state: FlowState, now: Date): FlowState {
  const perMs = ratePerMs(state)
  const cap = burstOf(state.limits)
  const elapsed = Math.max(0, now.getTime() - state.refilledAt.getTime())
  const tokens = perMs === null ? cap : Math.min(cap, state.tokens + elapsed * perMs)
  return { ...state, tokens, refilledAt: now }
}

/**
 * How many of `wanted` tasks of the key may be sent now, with `inFlight` of its sends running on every tasker, and
 * when each of the others is worth looking at again. A rate-limited task is held until the bucket will have its
 * token (one after another, so they come back spread out, not all at once); a task waiting for a free slot until a
 * send of the key ends (which wakes it) or `waitMs` at the latest.
 */
export function admit(
  state: FlowState,
  wanted: number,
  inFlight: number,
  now: Date,
  defaults: FlowDefaults,
): Admission {
  let s = rollMinute(refill(state, now), now)
  const hold = (reason: FlowWaitReason, runAt: (k: number) => Date): Admission => ({
    admitted: 0,
    held: Array.from({ length: wanted }, (_, k) => ({ reason, runAt: runAt(k) })),
    state: s,
  })
  const later = (ms: number) => () => new Date(now.getTime() + ms)
  if (s.paused) return hold('paused', later(defaults.waitMs))

  const { circuit } = s
  if (circuit.state === 'open' && circuit.until !== null && circuit.until > now) {
    const until = circuit.until
    return hold('circuit-open', () => until)
  }
  let cap = Number.POSITIVE_INFINITY
  if (circuit.state !== 'closed') {
    // The cool-down is over: one probe goes; the rest wait to hear how it went.
    if (inFlight > 0 || circuit.state === 'half-open') return hold('circuit-open', later(defaults.breaker.coolDownMs))
    s = { ...s, circuit: { ...circuit, state: 'half-open' } }
    cap = 1
  }
  if (s.blockedUntil !== null && s.blockedUntil > now) {
    const until = s.blockedUntil.getTime()
    const spacing = spacingMs(s)
    return hold('rate-limited', (k) => new Date(until + k * spacing))
  }

  const room = Math.max(0, (s.limits.parallelism ?? defaults.parallelism) - inFlight)
  const byRate = ratePerMs(s) === null ? Number.POSITIVE_INFINITY : Math.floor(s.tokens)
  const admitted = Math.min(wanted, room, byRate, cap)
  if (ratePerMs(s) !== null) s = { ...s, tokens: s.tokens - admitted }
  s = { ...s, recent: { ...s.recent, sends: s.recent.sends + admitted } }

  const held: Array<{ reason: FlowWaitReason; runAt: Date }> = []
  for (let k = 0; k < wanted - admitted; k++) {
    if (admitted + k < Math.min(room, cap) && byRate !== Number.POSITIVE_INFINITY) {
      // Slots are free, tokens are not: back when the bucket holds this one's token.
      const perMs = ratePerMs(s) as number
      const missing = k + 1 - s.tokens
      held.push({ reason: 'rate-limited', runAt: new Date(now.getTime() + Math.ceil(missing / perMs)) })
    } else if (circuit.state !== 'closed') {
      held.push({ reason: 'circuit-open', runAt: new Date(now.getTime() + defaults.breaker.coolDownMs) })
    } else {
      held.push({ reason: 'parallelism', runAt: new Date(now.getTime() + defaults.waitMs) })
    }
  }
  return { admitted, held, state: s }
}

function spacingMs(state: FlowState): number {
  const perMs = ratePerMs(state)
  return perMs === null ? 0 : Math.ceil(1 / perMs)
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
    s = {
      ...s,
      blockedUntil: s.blockedUntil !== null && s.blockedUntil > until ? s.blockedUntil : until,
      tokens: Math.min(s.tokens, 1),
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
