import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { onRequestAsyncHookHandler } from 'fastify'

/** What the server reads before taking a request on. */
export type Pressure = { poolWaiting(): number; eventLoopDelayMs(): number }
/** `maxEventLoopDelayMs` 0 turns that check off. */
export type SheddingLimits = { maxPoolWaiting: number; maxEventLoopDelayMs: number }
export type Shedding = { pressure: Pressure; limits: SheddingLimits }

/** Refused before any work: the one problem mapper answers 503 with Retry-After. */
export class Overloaded extends Error {
  constructor(readonly reason: string) {
    super(`overloaded: ${reason}`)
    this.name = 'Overloaded'
  }
}

/**
 * Turns new requests away while the server is already behind, so the ones it holds still finish in time and a
 * client retries elsewhere or later, instead of every request timing out. The probes are never shed: an
 * overloaded process is alive, and must not be restarted for it.
 */
export function shedUnderPressure({ pressure, limits }: Shedding): onRequestAsyncHookHandler {
  return async function shedUnderPressure(req) {
    if (req.url.startsWith('/health/')) return
    const waiting = pressure.poolWaiting()
    if (waiting > limits.maxPoolWaiting) throw new Overloaded(`${waiting} requests wait for a database connection`)
    if (limits.maxEventLoopDelayMs > 0) {
      const delay = pressure.eventLoopDelayMs()
      if (delay > limits.maxEventLoopDelayMs) throw new Overloaded(`event loop delay p99 ${Math.round(delay)} ms`)
    }
  }
}

/** p99 event-loop delay over the last `windowMs`, in ms; `stop()` on shutdown (its timer is unref'd anyway). */
export function eventLoopDelayGauge(windowMs = 1_000) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let p99Ms = 0
  const timer = setInterval(() => {
    p99Ms = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0
    histogram.reset()
  }, windowMs)
  timer.unref()
  return {
    p99Ms: () => p99Ms,
    stop() {
      clearInterval(timer)
      histogram.disable()
    },
  }
}
