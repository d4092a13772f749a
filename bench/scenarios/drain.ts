import { startTasker } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { type BenchDatabase, queueTasks, waitForFinished } from '../support/database.ts'
import { submitTemplateTask } from '../support/template-task.ts'

export type DrainResult = {
  tasks: number
  done: number
  error: number
  /** From starting the tasker process to its consumer group being stable (not part of `rate`). */
  startupS: number
  seconds: number
  rate: number
}

/**
 * Queues `count` tasks while no tasker runs, then starts one: finished tasks per second from the moment its
 * consumer group is stable to the last task's final status. Relay, Kafka, claim, send and record all count.
 */
export async function measureDrain(
  ctx: BenchContext,
  scenario: string,
  count: number,
  urls: string[],
  {
    profile = false,
    flowKeys,
    prepare,
  }: { profile?: boolean; flowKeys?: string[]; prepare?: (db: BenchDatabase) => Promise<void> } = {},
): Promise<DrainResult> {
  return withDatabase(ctx, scenario, async (db) => {
    await prepare?.(db)
    await queueTasks(db, await submitTemplateTask(ctx, db, scenario), count, urls, flowKeys)
    const tasker = await startTasker(ctx, db, scenario, { profile })
    try {
      const finished = await waitForFinished(db, count, {
        timeoutMs: ctx.sizes.finishTimeoutMs,
        check: tasker.proc.assertAlive,
      })
      const seconds = (finished.lastFinishedMs - tasker.readyAtMs) / 1000
      const startupS = (tasker.readyAtMs - tasker.startedAtMs) / 1000
      return {
        tasks: count,
        done: finished.done,
        error: finished.error,
        startupS,
        seconds,
        rate: finished.done / seconds,
      }
    } finally {
      await tasker.proc.stop()
    }
  })
}
