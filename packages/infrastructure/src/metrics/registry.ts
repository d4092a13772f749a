import type pg from 'pg'
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

export type { Registry }

/**
 * A registry with Node's default series (CPU, memory, heap, GC, event-loop delay as `nodejs_eventloop_lag_*`,
 * handles). Each app adds its own; label values come from small fixed sets (routes, statuses, outcome classes,
 * partitions), never from task ids or URLs, so the series stay few whatever the traffic.
 */
export function createRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
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
