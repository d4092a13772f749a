import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { type CostPerTask, type CpuUse, costPerTask, cpuSnapshot, cpuUse } from '../support/cpu.ts'
import { type NodeProcess, startNode, stopAll } from '../support/processes.ts'

const CLIENT = fileURLToPath(new URL('./pg-boss-client.ts', import.meta.url))
const QUEUE = 'bench-jobs'

/** pg-boss settings of B4 (see pg-boss-client.ts): each process's pool, jobs per fetch, fetch loops. */
export const PG_BOSS_SETTINGS = { poolMax: 10, batchSize: 100, workers: 2 }

export type QueueBaselineResult = {
  jobs: number
  senders: number
  settings: typeof PG_BOSS_SETTINGS
  /** From the first send to the last job completed. */
  seconds: number
  rate: number
  /** Jobs sent per second, from the first send to the last. */
  sendRate: number
  cpu: CpuUse
  /** Core-ms per job of the sender, the worker and Postgres. */
  cost: CostPerTask
}

/**
 * B4: the queue a user might pick instead — pg-boss on the same Postgres, with durability on. One process sends jobs
 * through `send()` (one job per call, as a server would for each request), `connections` at a time; another
 * completes them with a handler that does nothing. Jobs done per second, from the first send to the last completion.
 */
export async function runPgBossQueue(ctx: BenchContext): Promise<QueueBaselineResult> {
  return withDatabase(ctx, 'b4', async (db) => {
    const jobs = ctx.sizes.queueJobs
    const senders = ctx.sizes.connections
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      QUEUE,
      JOBS: String(jobs),
      SENDERS: String(senders),
      POOL_MAX: String(PG_BOSS_SETTINGS.poolMax),
      BATCH_SIZE: String(PG_BOSS_SETTINGS.batchSize),
      WORKERS: String(PG_BOSS_SETTINGS.workers),
      // The same request S2's tasks carry, as the job's payload.
      DATA: submitBody(ctx),
    }
    let worker: NodeProcess | undefined
    let sender: NodeProcess | undefined
    try {
      worker = startNode('b4-pg-boss-worker', [CLIENT, 'work'], {
        env,
        logFile: join(ctx.logDir, 'b4-pg-boss-worker.log'),
      })
      await worker.waitForLog(/"working"/, 60_000)
      sender = startNode('b4-pg-boss-sender', [CLIENT, 'send'], {
        env,
        logFile: join(ctx.logDir, 'b4-pg-boss-sender.log'),
      })
      await sender.waitForLog(/"ready"/, 60_000)
      const pids = { 'pg-boss sender': sender.pid, 'pg-boss worker': worker.pid }
      const before = cpuSnapshot(pids, ctx.postmasterPid)
      const startedMs = Date.now()
      process.kill(sender.pid, 'SIGUSR2')
      const sent = await sender.waitForLog(/"sent"/, ctx.sizes.finishTimeoutMs)
      const { firstMs, lastMs: lastSentMs } = JSON.parse(sent) as { firstMs: number; lastMs: number }
      const lastMs = await waitForCompleted(db.pool, jobs, ctx.sizes.finishTimeoutMs, worker)
      const cpu = cpuUse(before, cpuSnapshot(pids, ctx.postmasterPid), (Date.now() - startedMs) / 1000)
      const seconds = (lastMs - firstMs) / 1000
      return {
        jobs,
        senders,
        settings: PG_BOSS_SETTINGS,
        seconds,
        rate: jobs / seconds,
        sendRate: jobs / ((lastSentMs - firstMs) / 1000),
        cpu,
        cost: costPerTask(cpu, jobs, [...Object.keys(pids), 'postgres']),
      }
    } finally {
      await stopAll([sender, worker])
    }
  })
}

/** Polls until `expected` jobs are completed; the end time is the last one's `completed_on`, as S2's is its row's. */
async function waitForCompleted(
  pool: pg.Pool,
  expected: number,
  timeoutMs: number,
  worker: NodeProcess,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await pool.query<{ n: number; last: number | null }>(
      `select count(*)::integer as n, extract(epoch from max(completed_on)) * 1000 as last
       from pgboss.job where name = $1 and state = 'completed'`,
      [QUEUE],
    )
    const { n, last } = rows[0]!
    if (n >= expected) return Number(last)
    worker.assertAlive()
    if (Date.now() > deadline) throw new Error(`${n} of ${expected} pg-boss jobs completed within ${timeoutMs} ms`)
    await sleep(250)
  }
}
