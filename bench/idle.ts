// What the tasker costs with nothing to do (README, "Idle cost"):
//   node bench/idle.ts [--settle S] [--seconds S] [--cpu-prof] [--max-percent P]
// Starts the production tasker build, as `task up` does, on a fresh database and topics of its own. Once its
// consumer group is stable and it has settled, reads its CPU time (utime + stime of all its threads, from
// /proc/<pid>/stat) and its main thread's context switches (each one a wake-up: a timer, a socket read) over the
// window. CPU time is the process's own, so other work on the machine barely moves it.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatTop } from './profile-top.ts'
import { type AppContext, startTasker } from './support/apps.ts'
import { createBenchDatabase } from './support/database.ts'
import { deleteBenchKafkaState } from './support/kafka.ts'
import { localServices, removeDeadRuns } from './support/services.ts'

// Linux reports CPU time in clock ticks; USER_HZ is 100 on every architecture Node supports.
const TICKS_PER_SECOND = 100
const ROOT = fileURLToPath(new URL('..', import.meta.url))

const { values: args } = parseArgs({
  options: {
    settle: { type: 'string', default: '15' },
    seconds: { type: 'string', default: '60' },
    'cpu-prof': { type: 'boolean', default: false },
    // Exit non-zero above this share of a core, for a check that the idle cost has not come back.
    'max-percent': { type: 'string' },
  },
})
const settleS = Number(args.settle)
const windowS = Number(args.seconds)
const maxPercent = args['max-percent'] === undefined ? undefined : Number(args['max-percent'])

const runId = `idle${Date.now().toString(36)}`
const dir = join(ROOT, '.local/bench', runId)
mkdirSync(dir, { recursive: true })
const services = localServices(ROOT)
const brokers = services.KAFKA_BROKERS.split(',').map((b) => b.trim())
await removeDeadRuns(services.DATABASE_URL, brokers)

const { PORT: _port, HOST: _host, ...appEnv } = process.env
const ctx: AppContext = {
  runId,
  brokers,
  logDir: dir,
  profileDir: dir,
  appEnv: { ...appEnv, KAFKA_BROKERS: services.KAFKA_BROKERS, HEALTH_PORT: '0' },
}

const db = await createBenchDatabase(services.DATABASE_URL, `bench_${runId}`)
try {
  const spawnedAtMs = Date.now()
  const tasker = await startTasker(ctx, db, 'idle', { profile: args['cpu-prof'] })
  try {
    await sleep(settleS * 1000)
    const before = { at: performance.now(), ...sampleOf(tasker.proc.pid) }
    await sleep(windowS * 1000)
    const after = { at: performance.now(), ...sampleOf(tasker.proc.pid) }
    tasker.proc.assertAlive()

    const wallS = (after.at - before.at) / 1000
    const cpuS = after.cpuS - before.cpuS
    const percent = (cpuS / wallS) * 100
    const wakeUpsPerS = (after.switches - before.switches) / wallS
    console.log(
      `tasker idle: ${percent.toFixed(2)} % of a core (${cpuS.toFixed(2)} CPU-s in ${wallS.toFixed(1)} s), ` +
        `main thread ${wakeUpsPerS.toFixed(1)} context switches/s, after ${settleS} s to settle`,
    )
    await tasker.proc.stop()
    if (args['cpu-prof']) {
      console.log(
        "(with --cpu-prof the figure above includes the profiler's own sampling; the profile's busy time does not)",
      )
      const profile = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
      if (!profile) throw new Error(`no .cpuprofile in ${dir}`)
      // The profile starts with the process (give or take its boot), so the window is placed by the wall clock.
      const fromS = (before.wallMs - spawnedAtMs) / 1000
      console.log(formatTop(join(dir, profile), 20, { fromS, toS: fromS + wallS }))
    }
    if (maxPercent !== undefined && percent > maxPercent) {
      console.error(`idle CPU ${percent.toFixed(2)} % is above --max-percent ${maxPercent}`)
      process.exitCode = 1
    }
  } catch (err) {
    tasker.proc.kill()
    throw err
  }
} finally {
  await db.drop()
  await deleteBenchKafkaState(brokers, `bench.${runId}.`)
}

/** CPU seconds of every thread of the process, and the main thread's context switches, voluntary or not. */
function sampleOf(pid: number): { cpuS: number; switches: number; wallMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 14th and
  // 15th fields of the line.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const switches = [...status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)]
    .map((m) => Number(m[1]))
    .reduce((a, b) => a + b, 0)
  return { cpuS: (fields[11]! + fields[12]!) / TICKS_PER_SECOND, switches, wallMs: Date.now() }
}
