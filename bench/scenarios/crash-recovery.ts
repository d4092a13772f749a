import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { API_KEY, type RunningServer, spawnTasker, startServer, startTasker } from '../support/apps.ts'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { waitForFinished } from '../support/database.ts'
import { monotonicMs, openLoop } from '../support/open-loop.ts'
import type { NodeProcess } from '../support/processes.ts'
import { stopAll } from '../support/processes.ts'

// A short task timeout, so the leases of the tasks the killed tasker held run out (timeout + LEASE_GRACE_MS) while the
// scenario still submits, and the last of them is sent soon after: the scenario also checks that none is lost.
const TASK_TIMEOUT_MS = 2_000
// Submissions go on this long after the longest pause the consumer group can impose (its session timeout).
const AFTER_SESSION_S = 8

export type CrashRecoveryResult = {
  rate: number
  sessionTimeoutMs: number
  accepted: number
  /** The longest stretch from the kill on in which the target received no request at all. */
  pauseMs: number
  /** From the kill to the first request of a task submitted after it. */
  firstNewSendMs: number | null
  /** Largest time from a 201 to the target receiving that task's request. */
  maxDispatchMs: number
  /** Accepted tasks never sent, once every task has finished. */
  lost: number
  /** Tasks whose request reached the target more than once: at most those in flight at the kill. */
  sentTwice: number
}

/**
 * S8: tasks submitted at a steady rate to a running server and its only tasker; the tasker is killed with SIGKILL
 * and another started at once, as a supervisor would. Kafka gives the dead member's partitions to the new one only
 * once the dead one's session has run out: this measures that pause as the target sees it.
 */
export async function runCrashRecovery(ctx: BenchContext): Promise<CrashRecoveryResult> {
  return withDatabase(ctx, 's8', async (db) => {
    const first = await startTasker(ctx, db, 's8')
    let restarted: NodeProcess | undefined
    let server: RunningServer | undefined
    try {
      server = await startServer(ctx, db, 's8')
      const sessionTimeoutMs = ctx.tasker.KAFKA_SESSION_TIMEOUT_MS
      const rate = ctx.sizes.crashRate
      const prefix = `s8-${randomUUID().slice(0, 8)}-`
      const submitting = openLoop({
        url: server.url,
        apiKey: API_KEY,
        rate,
        durationS: ctx.sizes.crashLeadS + sessionTimeoutMs / 1000 + AFTER_SESSION_S,
        markPrefix: prefix,
        body: (mark) => submitBody(ctx, ctx.target.marked(mark), TASK_TIMEOUT_MS),
      })
      await sleep(ctx.sizes.crashLeadS * 1000)
      first.proc.assertAlive()
      const killedAtMs = monotonicMs()
      first.proc.kill()
      restarted = spawnTasker(ctx, db, 's8', { label: 'restarted' })
      const load = await submitting
      const live = restarted
      await waitForFinished(db, load.acceptedAtMs.size, {
        timeoutMs: ctx.sizes.finishTimeoutMs,
        check: () => {
          live.assertAlive()
          server?.proc.assertAlive()
        },
      })
      const { arrivals, repeats } = await ctx.target.takeMarks(prefix)
      const times = Object.values(arrivals).sort((a, b) => a - b)
      let pauseMs = 0
      for (let i = 1; i < times.length; i++) {
        if (times[i]! > killedAtMs) pauseMs = Math.max(pauseMs, times[i]! - Math.max(times[i - 1]!, killedAtMs))
      }
      let maxDispatchMs = 0
      let firstNewSend: number | null = null
      let lost = 0
      for (const [mark, acceptedAt] of load.acceptedAtMs) {
        const arrived = arrivals[mark]
        if (arrived === undefined) {
          lost++
          continue
        }
        maxDispatchMs = Math.max(maxDispatchMs, arrived - acceptedAt)
        if (acceptedAt > killedAtMs) firstNewSend = Math.min(firstNewSend ?? arrived, arrived)
      }
      return {
        rate,
        sessionTimeoutMs,
        accepted: load.acceptedAtMs.size,
        pauseMs,
        firstNewSendMs: firstNewSend === null ? null : firstNewSend - killedAtMs,
        maxDispatchMs,
        lost,
        sentTwice: Object.keys(repeats).length,
      }
    } finally {
      await stopAll([server?.proc, restarted])
    }
  })
}
