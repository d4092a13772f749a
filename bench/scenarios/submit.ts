import { API_KEY, startServer } from '../support/apps.ts'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { type CpuUse, cpuSnapshot, cpuUse } from '../support/cpu.ts'
import { type LoadResult, postLoad } from '../support/load.ts'
import { trackPeakRss } from '../support/memory.ts'

export type SubmitResult = {
  max: LoadResult
  /** Where the CPU went while the server ran flat out. */
  cpu: CpuUse
  halfRate: number
  half: LoadResult
  serverPeakRssBytes: number
}

/** S1: POST /tasks flat out, then at half that rate for latency; the server's peak RSS over both (S4). */
export async function runSubmit(ctx: BenchContext): Promise<SubmitResult> {
  return withDatabase(ctx, 's1', async (db) => {
    const server = await startServer(ctx, db, 's1', { profile: ctx.cpuProf })
    const peak = trackPeakRss(server.proc.pid)
    try {
      const load = {
        url: `${server.url}/tasks`,
        body: submitBody(ctx),
        headers: { authorization: `Bearer ${API_KEY}` },
        connections: ctx.sizes.connections,
      }
      if (ctx.sizes.warmupS > 0) await postLoad({ ...load, durationS: ctx.sizes.warmupS })
      const pids = { server: server.proc.pid, target: ctx.target.pid }
      const before = cpuSnapshot(pids, ctx.postmasterPid)
      const max = await postLoad({ ...load, durationS: ctx.sizes.submitS })
      const cpu = cpuUse(before, cpuSnapshot(pids, ctx.postmasterPid), max.durationS)
      const halfRate = Math.max(1, Math.floor(max.rate / 2))
      const half = await postLoad({ ...load, durationS: ctx.sizes.submitS, overallRate: halfRate })
      server.proc.assertAlive()
      return { max, cpu, halfRate, half, serverPeakRssBytes: peak.stop() }
    } finally {
      peak.stop()
      await server.proc.stop()
    }
  })
}
