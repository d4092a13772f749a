import type { BenchContext } from '../support/context.ts'
import { type DrainResult, measureDrain } from './drain.ts'

export const SLOW_MS = 200

export type SlowTargetResult = {
  delayMs: number
  /** SEND_CONCURRENCY / delay: the rate of every send slot busy all the time. */
  ideal: number
  oneOrigin: DrainResult
  /** The same spread over enough origins that HTTP_CONNECTIONS_PER_ORIGIN cannot be the limit; null if one is. */
  manyOrigins: (DrainResult & { origins: number }) | null
}

/** S3: a queued backlog against a target that answers after 200 ms; only overlapping sends can keep up. */
export async function runSlowTarget(ctx: BenchContext): Promise<SlowTargetResult> {
  const ideal = ctx.tasker.SEND_CONCURRENCY / (SLOW_MS / 1000)
  const oneOrigin = await measureDrain(ctx, 's3', ctx.sizes.slowTasks, [ctx.target.url(SLOW_MS)])
  const urls = ctx.target.urlsPerOrigin(SLOW_MS)
  const manyOrigins =
    urls.length > 1
      ? { ...(await measureDrain(ctx, 's3origins', ctx.sizes.slowTasks, urls)), origins: urls.length }
      : null
  return { delayMs: SLOW_MS, ideal, oneOrigin, manyOrigins }
}
