import type { SendOutcome } from './attempt.js'
import {
  type CircuitState,
  type FlowDefaults,
  type FlowState,
  MAX_BLOCK_MS,
  ratePerMs,
  refill,
  rollMinute,
  rollPace,
} from './flow-control.js'
import { parseRetryAfter } from './retry-policy.js'

// Outcomes: what each answer (or its absence) tells about a key's destination, and how the key's state follows.

/** Growth of the adaptive rate per second of sends without a 429 or 503: 10 %, so a few seconds test the ground. */
const ADAPTIVE_GROWTH_PER_S = 0.1
/** The adaptive rate never backs off below this (requests per second). */
const ADAPTIVE_FLOOR_PER_S = 0.2
/** Above this an unconfigured key's adaptive rate is dropped: the destination took all we sent. */
const ADAPTIVE_CEILING_PER_S = 10_000
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
