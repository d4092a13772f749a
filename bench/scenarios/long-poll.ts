import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Agent, request } from 'undici'
import { createLogger, pgTaskEndNotifier } from '../../packages/infrastructure/dist/index.js'
import { API_KEY, startServer } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { cpuSnapshot, cpuUse } from '../support/cpu.ts'
import { procStatusBytes, trackPeakRss } from '../support/memory.ts'
import { freePort } from '../support/processes.ts'
import { insertTasks, taskIdOf } from '../support/task-rows.ts'

export type LongPollResult = {
  waiters: number
  holdS: number
  /** Answers of 503 while the waits were being opened (the server shedding the burst of first reads); retried. */
  shedDuringRamp: number
  /** The same server before any wait; its commits are the database's own (autovacuum and the like). */
  idle: { cpuPctOfCore: number; rssBytes: number; databaseCommits: number }
  waiting: { cpuPctOfCore: number; rssBytes: number; peakRssBytes: number; databaseCommits: number }
  /** From the commit that ended every task to each answer. */
  wakeMs: { p50: number; p99: number; max: number }
  answeredDone: number
}

/**
 * S9: what 2,000 requests waiting on GET /tasks/{id}?wait=60 cost the server. The tasks are `new` rows of the
 * bench's key; the waits are opened in steps (each step once the server counts its waiters), then held for a while
 * with nothing happening, measuring the server's CPU and RSS against the same server idle before, and the
 * database's commits meanwhile (one LISTEN connection; no read per waiter). Then one statement ends every task and
 * the tasker's notifier announces them after its commit, and the time to each answer is the wake-up's cost.
 */
export async function runLongPoll(ctx: BenchContext): Promise<LongPollResult> {
  const waiters = ctx.sizes.longPollWaiters
  const holdS = ctx.sizes.longPollHoldS
  return withDatabase(ctx, 's9', async (db) => {
    await insertTasks(db, { count: waiters, status: 'new' })
    const metricsPort = await freePort()
    const server = await startServer(ctx, db, 's9', { env: { METRICS_PORT: String(metricsPort) } })
    const agent = new Agent({ connections: waiters + 10, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 })
    const pid = server.proc.pid
    try {
      const idleCommitsBefore = await commits(ctx.databaseUrl, db.name)
      const idle = await measure(pid, holdS)
      const idleCommits = (await commits(ctx.databaseUrl, db.name)) - idleCommitsBefore

      let shed = 0
      const answeredAt: number[] = []
      const statuses: string[] = []
      const wait = async (id: string): Promise<void> => {
        for (;;) {
          const res = await request(`${server.url}/tasks/${id}?wait=60`, {
            dispatcher: agent,
            headers: { authorization: `Bearer ${API_KEY}` },
          })
          const body = (await res.body.json()) as { status: string }
          if (res.statusCode === 503) {
            shed++
            await sleep(200)
            continue
          }
          answeredAt.push(performance.now())
          statuses.push(body.status)
          return
        }
      }
      const open: Array<Promise<void>> = []
      for (let n = 1; n <= waiters; n += 200) {
        for (let i = n; i < Math.min(n + 200, waiters + 1); i++) open.push(wait(taskIdOf(i)))
        await untilWaiting(metricsPort, open.length)
      }

      const commitsBefore = await commits(ctx.databaseUrl, db.name)
      const peak = trackPeakRss(pid)
      const waiting = await measure(pid, holdS)
      const peakRssBytes = peak.stop()
      const databaseCommits = (await commits(ctx.databaseUrl, db.name)) - commitsBefore

      // As a tasker ends tasks: one statement stores the outcomes, then their ids are announced after its commit.
      const { rows } = await db.pool.query<{ id: string }>(
        `update tasks set status = 'done', updated_at = now() where status = 'new' returning id`,
      )
      const endedAt = performance.now()
      pgTaskEndNotifier(db.pool, createLogger('s9', 'warn'))(rows.map((r) => r.id) as never[])
      await Promise.all(open)
      const wake = answeredAt.map((t) => t - endedAt).sort((a, b) => a - b)
      server.proc.assertAlive()
      return {
        waiters,
        holdS,
        shedDuringRamp: shed,
        idle: { cpuPctOfCore: idle.cpuPct, rssBytes: idle.rssBytes, databaseCommits: idleCommits },
        waiting: { cpuPctOfCore: waiting.cpuPct, rssBytes: waiting.rssBytes, peakRssBytes, databaseCommits },
        wakeMs: { p50: at(wake, 0.5), p99: at(wake, 0.99), max: Math.round(wake.at(-1) ?? 0) },
        answeredDone: statuses.filter((s) => s === 'done').length,
      }
    } finally {
      await agent.close().catch(() => {})
      await server.proc.stop()
    }
  })
}

/** The server's CPU (percent of one core; Postgres's is not counted) and RSS over `seconds` of what it does now. */
async function measure(pid: number, seconds: number) {
  const before = cpuSnapshot({ server: pid }, null)
  const started = performance.now()
  await sleep(seconds * 1000)
  const wallS = (performance.now() - started) / 1000
  const use = cpuUse(before, cpuSnapshot({ server: pid }, null), wallS)
  return {
    cpuPct: Math.round(((use.byProcess.server ?? 0) / wallS) * 1000) / 10,
    rssBytes: procStatusBytes(pid, 'VmRSS'),
  }
}

async function untilWaiting(metricsPort: number, count: number): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    const match = /^task_waiters (\d+)/m.exec(text)
    if (match && Number(match[1]) >= count) return
    await sleep(50)
  }
  throw new Error(`fewer than ${count} waits open after 60 s`)
}

/**
 * Transactions committed in the database `name` (pg_stat_database, flushed by Postgres at most every second), read
 * from another database so the reading is not one of them.
 */
async function commits(serverUrl: string, name: string): Promise<number> {
  await sleep(1_100) // the statistics flush interval: figures that cover the phase
  const client = new pg.Client({ connectionString: serverUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(
      'select xact_commit as n from pg_stat_database where datname = $1',
      [name],
    )
    return Number(rows[0]?.n ?? 0)
  } finally {
    await client.end()
  }
}

const at = (sorted: number[], q: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)
