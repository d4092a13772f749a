import { API_KEY, type RunningServer, startServer, startTasker } from '../support/apps.ts'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { type CostPerTask, type CpuUse, costPerTask, cpuSnapshot, cpuUse } from '../support/cpu.ts'
import { waitForFinished } from '../support/database.ts'
import { type LoadResult, postLoad } from '../support/load.ts'
import { stopAll } from '../support/processes.ts'
import { type DrainResult, measureDrain } from './drain.ts'

export type EndToEndResult = {
  submit: LoadResult
  done: number
  error: number
  seconds: number
  /** Tasks done per second, from the first POST to the last task done. */
  rate: number
  /** Where the CPU went from the first POST until every task was done. */
  cpu: CpuUse
  /** Core-ms per task done of our processes, Postgres and Kafka: not the load generator (harness) nor the target. */
  cost: CostPerTask
  drain: DrainResult
}

/** What a deployment runs per task; interrupts (loopback TCP) are shown in the CPU line but belong to no process. */
export const COSTED = ['server', 'tasker', 'postgres', 'kafka']

/** S2: tasks submitted as fast as the server takes them with the tasker running; then a drain of a queued backlog. */
export async function runEndToEnd(ctx: BenchContext): Promise<EndToEndResult> {
  const live = await withDatabase(ctx, 's2', async (db) => {
    const tasker = await startTasker(ctx, db, 's2', { profile: ctx.cpuProf })
    let server: RunningServer | undefined
    try {
      server = await startServer(ctx, db, 's2', { profile: ctx.cpuProf })
      const { proc } = server
      const alive = () => {
        tasker.proc.assertAlive()
        proc.assertAlive()
      }
      const pids = { server: proc.pid, tasker: tasker.proc.pid, target: ctx.target.pid }
      const before = cpuSnapshot(pids, ctx.postmasterPid)
      const startedMs = Date.now()
      const submit = await postLoad({
        url: `${server.url}/tasks`,
        body: submitBody(ctx),
        headers: { authorization: `Bearer ${API_KEY}` },
        connections: ctx.sizes.connections,
        amount: ctx.sizes.endToEndTasks,
      })
      alive()
      const finished = await waitForFinished(db, submit.accepted, {
        timeoutMs: ctx.sizes.finishTimeoutMs,
        check: alive,
      })
      const cpu = cpuUse(before, cpuSnapshot(pids, ctx.postmasterPid), (Date.now() - startedMs) / 1000)
      const seconds = (finished.lastFinishedMs - startedMs) / 1000
      const cost = costPerTask(cpu, finished.done, COSTED)
      return { submit, done: finished.done, error: finished.error, seconds, rate: finished.done / seconds, cpu, cost }
    } finally {
      await stopAll([server?.proc, tasker.proc])
    }
  })
  const drain = await measureDrain(ctx, 's2drain', ctx.sizes.drainTasks, [ctx.target.url(0)], { profile: ctx.cpuProf })
  return { ...live, drain }
}
