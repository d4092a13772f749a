import { randomUUID } from 'node:crypto'
import { API_KEY, type RunningServer, startServer, startTasker, taskerTopics } from '../support/apps.ts'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { type BenchDatabase, waitForFinished } from '../support/database.ts'
import { type DispatchStages, dispatchStages } from '../support/dispatch-stages.ts'
import { monotonicMs, openLoop } from '../support/open-loop.ts'
import { stopAll } from '../support/processes.ts'
import { type Percentiles, percentiles } from '../support/stats.ts'

/** The loads S5 runs at, as shares of S2's end-to-end rate of the same round. */
export const DISPATCH_SHARES = [0.25, 0.5]

export type DispatchPhase = {
  share: number
  /** Submissions per second asked for. */
  rate: number
  durationS: number
  submitted: number
  accepted: number
  refused: number
  /** Accepted tasks whose request never reached the target. */
  missing: number
  /** Accepted tasks whose request reached the target more than once. */
  sentTwice: number
  /** From each 201 reaching the client to its request reaching the target. */
  dispatchMs: Percentiles
  /** The same time cut where the pipeline leaves stamps: relay, Kafka up to the claim, claim to arrival. */
  stages: DispatchStages
  /** From each submission's due time to its answer. */
  answerMs: Percentiles
}

export type DispatchLatencyResult = { endToEndRate: number; phases: DispatchPhase[] }

/**
 * S5: tasks submitted at a steady rate (25 % and 50 % of S2's end-to-end rate, one after the other, with server and
 * tasker running), each to its own URL on the target, which notes when it arrives. Per task, the time from its 201
 * reaching the client to its request reaching the target: what a user waits for after submitting.
 */
export async function runDispatchLatency(ctx: BenchContext, endToEndRate: number): Promise<DispatchLatencyResult> {
  return withDatabase(ctx, 's5', async (db) => {
    const tasker = await startTasker(ctx, db, 's5', { profile: ctx.cpuProf })
    let server: RunningServer | undefined
    try {
      server = await startServer(ctx, db, 's5', { profile: ctx.cpuProf })
      const running = { server, tasker: tasker.proc, db, accepted: 0 }
      // Fresh processes compile as they go: a first, uncounted stretch at the lower rate warms them up.
      if (ctx.sizes.warmupS > 0) await runPhase(ctx, running, DISPATCH_SHARES[0]!, endToEndRate, ctx.sizes.warmupS)
      const phases: DispatchPhase[] = []
      for (const share of DISPATCH_SHARES) {
        phases.push(await runPhase(ctx, running, share, endToEndRate, ctx.sizes.dispatchS))
      }
      return { endToEndRate, phases }
    } finally {
      await stopAll([server?.proc, tasker.proc])
    }
  })
}

type Running = {
  server: RunningServer
  tasker: { assertAlive(): void }
  db: BenchDatabase
  /** Tasks accepted so far in this database: the count to wait for. */
  accepted: number
}

async function runPhase(
  ctx: BenchContext,
  running: Running,
  share: number,
  endToEndRate: number,
  durationS: number,
): Promise<DispatchPhase> {
  const rate = Math.max(1, Math.round(endToEndRate * share))
  const prefix = `s5-${randomUUID().slice(0, 8)}-`
  const load = await openLoop({
    url: running.server.url,
    apiKey: API_KEY,
    rate,
    durationS,
    markPrefix: prefix,
    body: (mark) => submitBody(ctx, ctx.target.marked(mark)),
  })
  running.accepted += load.acceptedAtMs.size
  await waitForFinished(running.db, running.accepted, {
    timeoutMs: ctx.sizes.finishTimeoutMs,
    check: () => {
      running.tasker.assertAlive()
      running.server.proc.assertAlive()
    },
  })
  const { arrivals, repeats } = await ctx.target.takeMarks(prefix)
  const dispatchMs: number[] = []
  // Postgres and Kafka stamp wall-clock time; the client and the target, the monotonic clock.
  const wallMinusMonotonic = Date.now() - monotonicMs()
  const tagged = new Map<string, { acceptedWallMs: number; arrivedWallMs: number }>()
  for (const [mark, acceptedAt] of load.acceptedAtMs) {
    const arrived = arrivals[mark]
    if (arrived === undefined) continue
    dispatchMs.push(arrived - acceptedAt)
    tagged.set(mark, { acceptedWallMs: acceptedAt + wallMinusMonotonic, arrivedWallMs: arrived + wallMinusMonotonic })
  }
  const stages = await dispatchStages(
    running.db,
    ctx.brokers,
    taskerTopics(ctx, 's5').KAFKA_TOPIC_TASKS,
    prefix,
    tagged,
  )
  return {
    share,
    rate,
    durationS,
    submitted: load.submitted,
    accepted: load.acceptedAtMs.size,
    refused: load.refused,
    missing: load.acceptedAtMs.size - dispatchMs.length,
    sentTwice: Object.keys(repeats).length,
    dispatchMs: percentiles(dispatchMs),
    stages,
    answerMs: load.answerMs,
  }
}
