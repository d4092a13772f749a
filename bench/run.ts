// The RequestTasker benchmark (bench/README.md):
//   node bench/run.ts [--quick] [--only b1,s2,…] [--rounds N] [--cpu-prof] [--memory-rounds N]
import { existsSync, mkdirSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { loadConfig } from '../apps/tasker/dist/config.js'
import { runBareSubmit } from './baselines/bare-submit.ts'
import { runPgBossQueue } from './baselines/pg-boss-queue.ts'
import { runRawBroker } from './baselines/raw-broker.ts'
import { runRawSend } from './baselines/raw-send.ts'
import { formatTop } from './profile-top.ts'
import {
  buildRows,
  emptySteps,
  formatCpuLines,
  formatDispatchLines,
  formatEnvironment,
  formatTable,
  type Results,
  type Round,
  writeResults,
} from './report.ts'
import { runCrashRecovery } from './scenarios/crash-recovery.ts'
import { runDispatchLatency } from './scenarios/dispatch-latency.ts'
import { runEndToEnd } from './scenarios/end-to-end.ts'
import { runFlowKeys } from './scenarios/flow-keys.ts'
import { runLargeAnswers } from './scenarios/large-answers.ts'
import { runLargeSubmissions } from './scenarios/large-submissions.ts'
import { runListPages } from './scenarios/list-pages.ts'
import { runLongPoll } from './scenarios/long-poll.ts'
import { runMemory } from './scenarios/memory.ts'
import { runSlowTarget } from './scenarios/slow-target.ts'
import { runSubmit } from './scenarios/submit.ts'
import { type BenchContext, FULL, QUICK, targetAt } from './support/context.ts'
import { postmasterOf } from './support/cpu.ts'
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
    rounds: { type: 'string' },
  },
})
const STEPS = ['b1', 'b2', 'b3', 'b4', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11']
const only = args.only?.split(',').map((s) => s.trim().toLowerCase())
const unknown = only?.filter((id) => !STEPS.includes(id)) ?? []
if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${STEPS.join(', ')})`)
// S5's loads are shares of S2's rate in the same round: S5 alone brings S2 along.
if (only?.includes('s5') && !only.includes('s2')) only.push('s2')
const memoryRounds = Number(args['memory-rounds'])
if (!Number.isInteger(memoryRounds) || memoryRounds < 1) throw new Error('--memory-rounds needs a whole number ≥ 1')
const sizes = args.quick ? QUICK : FULL
const rounds = args.rounds === undefined ? sizes.rounds : Number(args.rounds)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds needs a whole number ≥ 1')
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
// The bench submits with one API key, as a deployment with a single client does, and such a deployment lets that
// key use every send slot (the default share is half of them), unless the caller set a share of its own.
appEnv.SEND_SLOTS_PER_KEY ??= appEnv.SEND_CONCURRENCY ?? '10000'
// Likewise the scenarios that aim every task at one origin measure send slots, not the default parallelism of an
// unconfigured destination (50): that destination is ours, and the flow-control bookkeeping still runs (S11).
appEnv.FLOW_DEFAULT_PARALLELISM ??= appEnv.SEND_CONCURRENCY ?? '10000'
const tasker = loadConfig({ ...appEnv, DATABASE_URL: services.DATABASE_URL })

const settings = {
  SEND_CONCURRENCY: tasker.SEND_CONCURRENCY,
  SEND_SLOTS_PER_KEY: Math.min(tasker.SEND_SLOTS_PER_KEY, tasker.SEND_CONCURRENCY),
  FLOW_DEFAULT_PARALLELISM: Math.min(tasker.FLOW_DEFAULT_PARALLELISM, tasker.SEND_CONCURRENCY),
  OUTCOME_BUFFER: tasker.OUTCOME_BUFFER,
  OUTCOME_BUFFER_BYTES: tasker.OUTCOME_BUFFER_BYTES,
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
const results: Results = { rounds: [] }
const errors: Record<string, string> = {}
let ctx: BenchContext
let environment: Environment
try {
  const { ports } = JSON.parse(await targetProc.waitForLog(/"ports"/, 10_000)) as { ports: number[] }
  ctx = {
    runId,
    cpuProf: args['cpu-prof'],
    databaseUrl: services.DATABASE_URL,
    postmasterPid: await postmasterOf(services.DATABASE_URL),
    brokers,
    logDir,
    profileDir,
    appEnv,
    tasker,
    target: targetAt(targetProc.pid, ports),
    sizes: { ...sizes, rounds },
    memoryRounds,
  }
  environment = await describeEnvironment(ctx.databaseUrl, brokers)
  console.log(`RequestTasker bench ${runId} (${args.quick ? 'quick' : 'full'}); logs in ${logDir}\n`)
  console.log(formatEnvironment(environment, settings))
  console.log()

  // The steps whose figures are ratios or percentiles run once per round, each round's figures side by side (a
  // ratio pairs figures of the same round); the table shows each figure's median over the rounds and its range.
  for (let n = 1; n <= rounds; n++) {
    const round: Round = {}
    results.rounds.push(round)
    // A log directory per round: each start waits for lines of its own process's log, never a former round's.
    // Profiles (--cpu-prof) of the first round only: one file per app and scenario.
    const roundLogDir = rounds > 1 ? join(logDir, `round-${n}`) : logDir
    mkdirSync(roundLogDir, { recursive: true })
    const roundCtx = { ...ctx, logDir: roundLogDir, cpuProf: ctx.cpuProf && n === 1 }
    const of = rounds > 1 ? ` (round ${n} of ${rounds})` : ''
    await step(round, 'b1', `submit ceiling${of}`, () => runBareSubmit(roundCtx), n)
    await step(round, 'b2', `send ceiling${of}`, () => runRawSend(roundCtx), n)
    await step(round, 's1', `submit${of}`, () => runSubmit(roundCtx), n)
    await step(round, 's2', `end to end and drain${of}`, () => runEndToEnd(roundCtx), n)
    await step(round, 'b4', `pg-boss queue${of}`, () => runPgBossQueue(roundCtx), n)
    await step(round, 's5', `dispatch latency${of}`, () => runDispatchLatency(roundCtx, s2RateOf(round)), n)
    await step(round, 's3', `slow target${of}`, () => runSlowTarget(roundCtx), n)
    await step(round, 's11', `drain over 100 limited flow-control keys${of}`, () => runFlowKeys(roundCtx), n)
  }
  await step(results, 'b3', 'broker ceiling', () => runRawBroker(ctx))
  await step(results, 's4', 'tasker memory', () => runMemory(ctx))
  await step(results, 's6', 'server memory, 1 MB submissions', () => runLargeSubmissions(ctx))
  await step(results, 's7', 'large-answer drain', () => runLargeAnswers(ctx))
  await step(results, 's8', 'crash and restart of the only tasker', () => runCrashRecovery(ctx))
  await step(results, 's9', 'long-poll, waiters held by one server', () => runLongPoll(ctx))
  await step(results, 's10', 'list page time as the table grows', () => runListPages(ctx))
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
const dispatchLines = formatDispatchLines(results)
if (dispatchLines) console.log(`\n${dispatchLines}`)
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

/**
 * Runs one baseline or scenario unless --only leaves it out, keeping its figures in `into` (the run's, or a round's);
 * a failure is reported and the run goes on.
 */
async function step<T extends object, K extends keyof T & string>(
  into: T,
  id: K,
  title: string,
  run: () => Promise<T[K]>,
  round?: number,
): Promise<void> {
  if (only && !only.includes(id)) return
  const key = round === undefined ? id : `${id} round ${round}`
  const stepStarted = Date.now()
  process.stdout.write(`${id.toUpperCase()} ${title} … `)
  try {
    into[id] = await run()
    console.log(`${((Date.now() - stepStarted) / 1000).toFixed(1)} s`)
  } catch (err) {
    errors[key] = err instanceof Error ? (err.stack ?? err.message) : String(err)
    console.log(`FAILED after ${((Date.now() - stepStarted) / 1000).toFixed(1)} s\n${errors[key]}`)
  }
}

function s2RateOf(round: Round): number {
  if (!round.s2) throw new Error("S5's loads are shares of S2's rate in the same round, and S2 did not complete")
  return round.s2.rate
}

async function printProfiles(): Promise<void> {
  const files = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'))
  for (const f of files.filter((f) => f.includes(runId))) {
    console.log(`\n${formatTop(join(profileDir, f))}`)
  }
}
