import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BenchContext, submitBody, withDatabase } from '../support/context.ts'
import { type CpuUse, cpuSnapshot, cpuUse } from '../support/cpu.ts'
import { type LoadResult, postLoad } from '../support/load.ts'
import { freePort, startNode } from '../support/processes.ts'

const SERVER = fileURLToPath(new URL('./bare-submit-server.ts', import.meta.url))

export type BareSubmitResult = { load: LoadResult; cpu: CpuUse }

/** B1: the submit ceiling — autocannon's max req/s against a bare Fastify route doing one INSERT. */
export async function runBareSubmit(ctx: BenchContext): Promise<BareSubmitResult> {
  return withDatabase(ctx, 'b1', async (db) => {
    const port = await freePort()
    const proc = startNode('b1-bare-submit', [SERVER], {
      env: { ...ctx.appEnv, DATABASE_URL: db.url, PORT: String(port) },
      logFile: join(ctx.logDir, 'b1-bare-submit.log'),
    })
    try {
      await proc.waitForLog(/"listening"/, 30_000)
      const load = { url: `http://127.0.0.1:${port}/tasks`, body: submitBody(ctx), connections: ctx.sizes.connections }
      if (ctx.sizes.warmupS > 0) await postLoad({ ...load, durationS: ctx.sizes.warmupS })
      const pids = { 'bare server': proc.pid, target: ctx.target.pid }
      const before = cpuSnapshot(pids, ctx.postmasterPid)
      const result = await postLoad({ ...load, durationS: ctx.sizes.submitS })
      const cpu = cpuUse(before, cpuSnapshot(pids, ctx.postmasterPid), result.durationS)
      proc.assertAlive()
      return { load: result, cpu }
    } finally {
      await proc.stop()
    }
  })
}
