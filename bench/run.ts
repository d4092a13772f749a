// The RequestTasker benchmark (bench/README.md):
//   node bench/run.ts [--quick] [--only b1,s2,…] [--cpu-prof] [--memory-rounds N]
import { existsSync, mkdirSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadConfig } from '../apps/tasker/dist/config.js'
import { runBareSubmit } from './baselines/bare-submit.ts'
import { runRawBroker } from './baselines/raw-broker.ts'
import { runRawSend } from './baselines/raw-send.ts'
import { formatTop } from './profile-top.ts'
import {
  buildRows,
  emptySteps,
  formatCpuLines,
  formatEnvironment,
  formatTable,
  type Results,
  writeResults,
} from './report.ts'
import { runEndToEnd } from './scenarios/end-to-end.ts'
import { runLargeSubmissions } from './scenarios/large-submissions.ts'
import { runListPages } from './scenarios/list-pages.ts'
import { runLongPoll } from './scenarios/long-poll.ts'
import { runMemory } from './scenarios/memory.ts'
import { runSlowTarget } from './scenarios/slow-target.ts'
import { runSubmit } from './scenarios/submit.ts'
import { type BenchContext, FULL, QUICK, targetAt } from './support/context.ts'
import { describeEnvironment, type Environment } from './support/environment.ts'
import { deleteBenchKafkaState } from './support/kafka.ts'
import { startNode } from './support/processes.ts'
import { localServices, removeDeadRuns } from './support/services.ts'

// kafkajs 2.2.4 arms timers with a negative delay on Node 24: harmless (Node clamps it to 1 ms), and only noise here.
process.removeAllListeners('warning').on('warning', (w) => {
  if (w.name !== 'TimeoutNegativeWarning') console.warn(w)
})
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const started = Date.now()
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'memory-rounds': { type: 'string', default: '2' },
  },
})
const STEPS = ['b1', 'b2', 'b3', 's1', 's2', 's3', 's4', 's6', 's9', 's10']
const only = args.only?.split(',').map((s) => s.trim().toLowerCase())
const unknown = only?.filter((id) => !STEPS.includes(id)) ?? []
if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${STEPS.join(', ')})`)
const memoryRounds = Number(args['memory-rounds'])
if (!Number.isInteger(memoryRounds) || memoryRounds < 1) throw new Error('--memory-rounds needs a whole number ≥ 1')
const runId = new Date(started).toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase()

for (const app of ['server', 'tasker']) {
  if (!existsSync(join(ROOT, `apps/${app}/dist/main.js`)))
    throw new Error(`apps/${app} is not built: run \`task build\``)
}
const services = localServices(ROOT)
const brokers = services.KAFKA_BROKERS.split(',').map((b) => b.trim())

// The apps get the caller's environment (so SEND_CONCURRENCY=… set by hand reaches the tasker) minus what every
// start sets itself. The SSRF guard stays on, as in production: the local target is allow-listed, not unguarded.
const { PORT: _port, HOST: _host, API_KEYS: _keys, ...appEnv } = process.env
appEnv.KAFKA_BROKERS = services.KAFKA_BROKERS
appEnv.TARGET_ALLOWLIST = [process.env.TARGET_ALLOWLIST, '127.0.0.1'].filter(Boolean).join(',')
appEnv.HEALTH_PORT = '0' // the tasker's probe server: any free port, never a running tasker's 8081
const tasker = loadConfig({ ...appEnv, DATABASE_URL: services.DATABASE_URL })

const settings = {
  SEND_CONCURRENCY: tasker.SEND_CONCURRENCY,
  HTTP_CONNECTIONS_PER_ORIGIN: tasker.HTTP_CONNECTIONS_PER_ORIGIN,
  KAFKA_PARTITIONS: tasker.KAFKA_PARTITIONS,
  CONSUMER_CHUNK_SIZE: tasker.CONSUMER_CHUNK_SIZE,
  PARTITIONS_CONSUMED_CONCURRENTLY: tasker.PARTITIONS_CONSUMED_CONCURRENTLY,
  RELAY_BATCH_SIZE: tasker.RELAY_BATCH_SIZE,
  DATABASE_POOL_MAX: tasker.DATABASE_POOL_MAX,
  LOG_LEVEL: tasker.LOG_LEVEL,
  TASKER_NODE_OPTIONS: appEnv.TASKER_NODE_OPTIONS ?? '',
  SERVER_NODE_OPTIONS: appEnv.SERVER_NODE_OPTIONS ?? '',
}

const logDir = join(ROOT, '.local/bench', runId)
const profileDir = join(ROOT, '.local/profiles')
mkdirSync(logDir, { recursive: true })
mkdirSync(profileDir, { recursive: true })

await removeDeadRuns(services.DATABASE_URL, brokers)
// Enough origins that HTTP_CONNECTIONS_PER_ORIGIN sockets each add up to SEND_CONCURRENCY (S3's second row, S4).
const origins = Math.max(1, Math.ceil(tasker.SEND_CONCURRENCY / tasker.HTTP_CONNECTIONS_PER_ORIGIN))
const targetProc = startNode('target', [join(ROOT, 'bench/support/target-server.ts'), String(origins)], {
  env: process.env,
  logFile: join(logDir, 'target.log'),
})
const results: Results = {}
const errors: Record<string, string> = {}
let ctx: BenchContext
let environment: Environment
try {
  const { ports } = JSON.parse(await targetProc.waitForLog(/"ports"/, 10_000)) as { ports: number[] }
  ctx = {
    runId,
    cpuProf: args['cpu-prof'],
    databaseUrl: services.DATABASE_URL,
    brokers,
    logDir,
    profileDir,
    appEnv,
    tasker,
    target: targetAt(targetProc.pid, ports),
    sizes: args.quick ? QUICK : FULL,
    memoryRounds,
  }
  environment = await describeEnvironment(ctx.databaseUrl, brokers)
  console.log(`RequestTasker bench ${runId} (${args.quick ? 'quick' : 'full'}); logs in ${logDir}\n`)
  console.log(formatEnvironment(environment, settings))
  console.log()

  await step('b1', 'submit ceiling', () => runBareSubmit(ctx))
  await step('b2', 'send ceiling', () => runRawSend(ctx))
  await step('b3', 'broker ceiling', () => runRawBroker(ctx))
  await step('s1', 'submit', () => runSubmit(ctx))
  await step('s2', 'end to end and drain', () => runEndToEnd(ctx))
  await step('s3', 'slow target', () => runSlowTarget(ctx))
  await step('s4', 'tasker memory', () => runMemory(ctx))
  await step('s6', 'server memory, 1 MB submissions', () => runLargeSubmissions(ctx))
  await step('s9', 'long-poll, waiters held by one server', () => runLongPoll(ctx))
  await step('s10', 'list page time as the table grows', () => runListPages(ctx))
} finally {
  await targetProc.stop().catch((err: Error) => {
    errors.target = err.message
  })
  await deleteBenchKafkaState(brokers, `bench.${runId}.`).catch((err: Error) => {
    errors.cleanup = err.message
  })
}

const rows = buildRows(results, tasker.SEND_CONCURRENCY)
const empty = emptySteps(results)
const seconds = (Date.now() - started) / 1000
console.log()
console.log(formatTable(rows))
console.log(`\n${formatCpuLines(results)}`)
// Only a complete full run is a result worth keeping in the repo; smoke and partial runs stay under .local.
const complete = !args.quick && only === undefined
const files = complete
  ? [join(ROOT, 'bench/results', `${runId}.json`), join(ROOT, 'bench/results/latest.json')]
  : [join(logDir, 'results.json')]
await writeResults(files, {
  runId,
  mode: args.quick ? 'quick' : only ? `only ${only.join(',')}` : 'full',
  startedAt: new Date(started).toISOString(),
  seconds,
  environment,
  settings,
  sizes: ctx.sizes,
  memoryRounds: ctx.memoryRounds,
  results,
  rows,
  errors,
})
console.log(`\nfigures: ${files.map((f) => relative(ROOT, f)).join(', ')}; run time ${seconds.toFixed(0)} s`)
if (ctx.cpuProf) await printProfiles()

for (const id of empty) console.log(`${id.toUpperCase()} completed nothing`)
// Missed targets are findings, not failures: only a crash or an empty scenario fails the run (CI runs --quick).
process.exit(Object.keys(errors).length > 0 || empty.length > 0 ? 1 : 0)

/** Runs one baseline or scenario unless --only leaves it out; a failure is reported and the run goes on. */
async function step<K extends keyof Results>(id: K, title: string, run: () => Promise<Results[K]>): Promise<void> {
  if (only && !only.includes(id)) return
  const stepStarted = Date.now()
  process.stdout.write(`${id.toUpperCase()} ${title} … `)
  try {
    results[id] = await run()
    console.log(`${((Date.now() - stepStarted) / 1000).toFixed(1)} s`)
  } catch (err) {
    errors[id] = err instanceof Error ? (err.stack ?? err.message) : String(err)
    console.log(`FAILED after ${((Date.now() - stepStarted) / 1000).toFixed(1)} s\n${errors[id]}`)
  }
}

async function printProfiles(): Promise<void> {
  const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'))
  for (const f of files.filter((f) => f.includes(runId))) {
    console.log(`\n${formatTop(join(profileDir, f))}`)
  }
}
