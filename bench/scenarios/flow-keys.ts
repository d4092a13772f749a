import { API_KEY, startServer } from '../support/apps.ts'
import type { BenchContext } from '../support/context.ts'
import type { BenchDatabase } from '../support/database.ts'
import { type DrainResult, measureDrain } from './drain.ts'

export const FLOW_KEYS = 100

export type FlowKeysResult = DrainResult & {
  keys: number
  /** Each key's limits, set through the API: above what a drain reaches, so the figure is flow control's own cost. */
  limits: { rate: number; periodMs: number; burst: number; parallelism: number }
}

/**
 * S11: the S2 drain, its tasks spread over 100 flow-control keys that each have a rate and a parallelism limit.
 * Every claim then locks, checks and updates up to 100 key rows in its transaction; compared with S2's drain (one
 * key, default limits) it shows what that bookkeeping costs.
 */
export async function runFlowKeys(ctx: BenchContext): Promise<FlowKeysResult> {
  const keys = Array.from({ length: FLOW_KEYS }, (_, i) => `bench-key-${String(i).padStart(3, '0')}`)
  const limits = { rate: 500, periodMs: 1000, burst: 50, parallelism: 10 }
  const drain = await measureDrain(ctx, 's11', ctx.sizes.drainTasks, [ctx.target.url(0)], {
    flowKeys: keys,
    prepare: (db) => configureKeys(ctx, db, keys, limits),
  })
  return { ...drain, keys: keys.length, limits }
}

async function configureKeys(ctx: BenchContext, db: BenchDatabase, keys: string[], limits: object): Promise<void> {
  const server = await startServer(ctx, db, 's11-keys')
  try {
    for (const key of keys) {
      const res = await fetch(`${server.url}/flow-controls/${encodeURIComponent(key)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify(limits),
      })
      if (res.status !== 200) throw new Error(`flow-control key ${key} refused: ${res.status} ${await res.text()}`)
    }
  } finally {
    await server.proc.stop()
  }
}
