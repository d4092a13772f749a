import type pg from 'pg'
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

export type { Registry }

const EVENT_LOOP_SAMPLE_MS = 200

/**
 * A registry with Node's default series (CPU, memory, heap, GC, event-loop delay as `nodejs_eventloop_lag_*`,
 * handles). Each app adds its own; label values come from small fixed sets (routes, statuses, outcome classes,
 * partitions), never from task ids or URLs, so the series stay few whatever the traffic.
 */
export function createRegistry(): Registry {
  const registry = new Registry()
  // The event-loop delay is sampled by a timer on the loop itself; prom-client's default of every 10 ms woke an
  // idle tasker 100 times a second (about 0.6 % of a core, see README "Idle cost"). Every 200 ms still catches a
  // stall worth an alert.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  return registry
}

/** `db_pool_connections{pool, state}`: each pool's connections, idle ones, and checkouts waiting for one. */
export function observePools(registry: Registry, pools: Record<string, pg.Pool>): void {
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state: total (open), idle, waiting (checkouts queued for one)',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      for (const [name, pool] of Object.entries(pools)) {
        this.set({ pool: name, state: 'total' }, pool.totalCount)
        this.set({ pool: name, state: 'idle' }, pool.idleCount)
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount)
      }
    },
  })
}
