import { startTasker } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { queueTasks, waitForFinished } from '../support/database.ts'
import { trackPeakRss } from '../support/memory.ts'
import { submitTemplateTask } from '../support/template-task.ts'

export const ANSWER_BYTES = 64 * 1024

export type LargeAnswersResult = {
  tasks: number
  answerBytes: number
  seconds: number
  rate: number
  /** Tasks claimed more than once although no tasker died: each of them reached the target again. */
  sentTwice: number
  peakRssBytes: number
}

/**
 * S7: a backlog queued while no tasker ran, whose third party answers 64 KiB at once: sends outrun the writes of
 * their outcomes, which must then hold claims back. Every task is to be sent once, in bounded memory.
 */
export async function runLargeAnswers(ctx: BenchContext): Promise<LargeAnswersResult> {
  return withDatabase(ctx, 's7', async (db) => {
    const count = ctx.sizes.largeAnswerTasks
    await queueTasks(db, await submitTemplateTask(ctx, db, 's7'), count, [ctx.target.sized(ANSWER_BYTES)])
    const tasker = await startTasker(ctx, db, 's7')
    const peak = trackPeakRss(tasker.proc.pid)
    try {
      const finished = await waitForFinished(db, count, {
        timeoutMs: ctx.sizes.finishTimeoutMs,
        check: tasker.proc.assertAlive,
      })
      const peakRssBytes = peak.stop()
      const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from tasks where attempts > 1')
      const seconds = (finished.lastFinishedMs - tasker.readyAtMs) / 1000
      return {
        tasks: count,
        answerBytes: ANSWER_BYTES,
        seconds,
        rate: finished.done / seconds,
        sentTwice: rows[0]!.n,
        peakRssBytes,
      }
    } finally {
      peak.stop()
      await tasker.proc.stop()
    }
  })
}
