// Flow control: how fast, and how many at once, one destination may be sent to. Every task has a flow-control key
// (by default its URL's origin, scoped to the API key that owns it); the key's state below decides, at each claim,
// how many of its tasks may go now (flow-admission.ts) and how each outcome changes it (flow-outcome.ts). Pure
// functions: the store keeps the state, locked while a claim or an outcome changes it, so every tasker sees the same
// limits.

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

/** A Retry-After longer than this is read as this: a key is held an hour at most. */
export const MAX_BLOCK_MS = 60 * 60 * 1000
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

export function burstOf(limits: FlowLimits): number {
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

/** A second has passed: this second's count becomes the one before. */
export function rollPace(state: FlowState, now: Date): FlowState {
  const elapsed = now.getTime() - state.pace.since.getTime()
  if (elapsed < 1000) return state
  const before = elapsed < 2000 ? state.pace.answered : 0
  return { ...state, pace: { since: now, answered: 0, before } }
}

/** The minute's counters start again once a minute has passed, so the GET of a key reads the last minute. */
export function rollMinute(state: FlowState, now: Date): FlowState {
  if (now.getTime() - state.recent.since.getTime() < MINUTE_MS) return state
  return { ...state, recent: { since: now, sends: 0, throttled: 0, failures: 0 } }
}
