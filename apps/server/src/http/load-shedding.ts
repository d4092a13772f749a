import underPressure, { TYPE_EVENT_LOOP_DELAY } from '@fastify/under-pressure'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** What the server reads before taking requests on. */
export type Pressure = { poolWaiting(): number }
/** `maxEventLoopDelayMs` 0 turns that check off. */
export type SheddingLimits = { maxPoolWaiting: number; maxEventLoopDelayMs: number }
export type Shedding = {
  pressure: Pressure
  limits: SheddingLimits
  /** How often the pool is looked at (ms). */
  poolCheckEveryMs?: number
  /** The window the event loop's mean delay is measured over (ms). */
  eventLoopWindowMs?: number
}

/** Refused before any work: the one problem mapper answers 503 with Retry-After. */
export class Overloaded extends Error {
  constructor(readonly reason: string) {
    super(`overloaded: ${reason}`)
    this.name = 'Overloaded'
  }
}

/**
 * Turns new requests away while the server is already behind, so the ones it holds still finish in time and a
 * client retries elsewhere or later, instead of every request timing out. @fastify/under-pressure measures the
 * event loop and runs the pool check as its health check; the pool is read every 25 ms, not per request, which
 * lets at most a few more requests in than the limit while the queue grows. The probes are never shed: an
 * overloaded process is alive, and must not be restarted for it.
 */
export function shedUnderPressure(
  app: FastifyInstance,
  { pressure, limits, poolCheckEveryMs = 25, eventLoopWindowMs = 1_000 }: Shedding,
) {
  return app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    sampleInterval: eventLoopWindowMs,
    healthCheck: async () => pressure.poolWaiting() <= limits.maxPoolWaiting,
    healthCheckInterval: poolCheckEveryMs,
    pressureHandler: (req: FastifyRequest, _reply, type, value) => {
      if (req.url.startsWith('/health/')) return
      const reason =
        type === TYPE_EVENT_LOOP_DELAY
          ? `event loop delay ${Math.round(value ?? 0)} ms`
          : `${pressure.poolWaiting()} requests wait for a database connection`
      return Promise.reject(new Overloaded(reason))
    },
  })
}
