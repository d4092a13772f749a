import { startTasker } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { queueTasks, waitForFinished } from '../support/database.ts'
import { procStatusBytes, trackPeakRss } from '../support/memory.ts'
import { submitTemplateTask } from '../support/template-task.ts'
import { SLOW_MS } from './slow-target.ts'

export type MemoryRound = { tasks: number; startRssBytes: number; peakRssBytes: number; seconds: number }
export type MemoryResult = { delayMs: number; origins: number; rounds: MemoryRound[] }

/**
 * S4: the tasker's peak RSS while a backlog of tasks sits in it against the slow target (every origin, so all
 * SEND_CONCURRENCY slots are busy), round after round in the same process: a leak shows as peaks that keep rising.
 */
export async function runMemory(ctx: BenchContext): Promise<MemoryResult> {
  const urls = ctx.target.urlsPerOrigin(SLOW_MS)
  return withDatabase(ctx, 's4', async (db) => {
    const template = await submitTemplateTask(ctx, db, 's4')
    const tasker = await startTasker(ctx, db, 's4')
    try {
      const rounds: MemoryRound[] = []
      for (let round = 1; round <= ctx.memoryRounds; round++) {
        const startRssBytes = procStatusBytes(tasker.proc.pid, 'VmRSS')
        const peak = trackPeakRss(tasker.proc.pid)
        const started = Date.now()
        try {
          await queueTasks(db, template, ctx.sizes.memoryTasks, urls)
          const finished = await waitForFinished(db, ctx.sizes.memoryTasks * round, {
            timeoutMs: ctx.sizes.finishTimeoutMs,
            check: tasker.proc.assertAlive,
          })
          rounds.push({
            tasks: ctx.sizes.memoryTasks,
            startRssBytes,
            peakRssBytes: peak.stop(),
            seconds: (finished.lastFinishedMs - started) / 1000,
          })
        } finally {
          peak.stop()
        }
      }
      return { delayMs: SLOW_MS, origins: urls.length, rounds }
    } finally {
      await tasker.proc.stop()
    }
  })
}
