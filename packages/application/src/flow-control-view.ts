import type { FlowState, FlowWaitReason } from '@request-tasker/domain'
import type { FlowControlView } from './ports/flow-controls.js'

/** The view of a key from its state and counts, alike for every store; the minute's counts read 0 once stale. */
export function flowControlView(
  key: string,
  state: FlowState,
  at: {
    now: Date
    inFlight: number
    waiting: Partial<Record<FlowWaitReason, number>>
    configuredAt: Date | null
  },
): FlowControlView {
  const stale = at.now.getTime() - state.recent.since.getTime() >= 60_000
  return {
    key,
    limits: state.limits,
    paused: state.paused,
    circuit: state.circuit,
    inFlight: at.inFlight,
    waiting: {
      'rate-limited': at.waiting['rate-limited'] ?? 0,
      parallelism: at.waiting.parallelism ?? 0,
      paused: at.waiting.paused ?? 0,
      'circuit-open': at.waiting['circuit-open'] ?? 0,
    },
    lastMinute: stale ? { since: at.now, sends: 0, throttled: 0, failures: 0 } : { ...state.recent },
    adaptiveRate: state.adaptiveRate,
    blockedUntil: state.blockedUntil !== null && state.blockedUntil > at.now ? state.blockedUntil : null,
    configuredAt: at.configuredAt,
  }
}
