import type { TaskerConfig } from '../../apps/tasker/dist/config.js'
import { type BenchDatabase, createBenchDatabase } from './database.ts'

/** Everything a baseline or scenario needs from the run: where things are, how big to go, what the apps run with. */
export type BenchContext = {
  readonly runId: string
  /** Profile the apps (--cpu-prof) during S1 and S2. */
  readonly cpuProf: boolean
  readonly databaseUrl: string
  readonly brokers: string[]
  /** Logs of every process this run starts. */
  readonly logDir: string
  readonly profileDir: string
  /** Base environment of both apps; each start adds its database, port and topics. */
  readonly appEnv: NodeJS.ProcessEnv
  /** The tasker's effective settings (its own config parser over `appEnv`). */
  readonly tasker: TaskerConfig
  readonly target: Target
  /** Counts and durations for this mode (full or quick). */
  readonly sizes: Sizes
  /** S4 backlogs in a row in one tasker (2 unless --memory-rounds says otherwise). */
  readonly memoryRounds: number
}

export type Sizes = {
  warmupS: number
  submitS: number
  connections: number
  endToEndTasks: number
  drainTasks: number
  slowTasks: number
  memoryTasks: number
  rawSends: number
  rawMessages: number
  finishTimeoutMs: number
  /** S6: clients each sending 1 MB submissions, for this long. */
  largeConnections: number
  largeSubmitS: number
  /** S9: requests waiting on GET /tasks/{id}?wait=60 at once, held this long while measured. */
  longPollWaiters: number
  longPollHoldS: number
  /** S10: GET /tasks page times with the table at each size. */
  listSmallRows: number
  listLargeRows: number
}

export const FULL: Sizes = {
  warmupS: 2,
  submitS: 10,
  connections: 50,
  endToEndTasks: 20_000,
  drainTasks: 20_000,
  slowTasks: 8_000,
  memoryTasks: 10_000,
  rawSends: 20_000,
  rawMessages: 20_000,
  finishTimeoutMs: 240_000,
  largeConnections: 100,
  largeSubmitS: 15,
  longPollWaiters: 2_000,
  longPollHoldS: 10,
  listSmallRows: 10_000,
  listLargeRows: 1_000_000,
}

export const QUICK: Sizes = {
  warmupS: 0,
  submitS: 1,
  connections: 10,
  endToEndTasks: 200,
  drainTasks: 200,
  slowTasks: 200,
  memoryTasks: 300,
  rawSends: 500,
  rawMessages: 500,
  finishTimeoutMs: 60_000,
  largeConnections: 10,
  largeSubmitS: 2,
  longPollWaiters: 200,
  longPollHoldS: 1,
  listSmallRows: 1_000,
  listLargeRows: 20_000,
}

export type Target = {
  readonly pid: number
  readonly ports: number[]
  /** The target's URL on its first origin, answering after `delayMs`. */
  url(delayMs: number): string
  /** One URL per origin (port), each answering after `delayMs`. */
  urlsPerOrigin(delayMs: number): string[]
}

export function targetAt(pid: number, ports: number[]): Target {
  const urlAt = (port: number, delayMs: number) => `http://127.0.0.1:${port}/echo?delay=${delayMs}`
  return {
    pid,
    ports,
    url: (delayMs) => urlAt(ports[0]!, delayMs),
    urlsPerOrigin: (delayMs) => ports.map((p) => urlAt(p, delayMs)),
  }
}

/** The body every submit in the bench sends (and B1 parses): a GET to the fast target with one header. */
export function submitBody(ctx: BenchContext): string {
  return JSON.stringify({
    method: 'GET',
    url: ctx.target.url(0),
    headers: { accept: 'text/plain' },
    timeoutMs: 10_000,
  })
}

export const dbName = (ctx: BenchContext, scenario: string) => `bench_${ctx.runId}_${scenario}`

/** Runs `fn` with a fresh, migrated database, dropped afterwards whatever happens. */
export async function withDatabase<T>(
  ctx: BenchContext,
  scenario: string,
  fn: (db: BenchDatabase) => Promise<T>,
): Promise<T> {
  const db = await createBenchDatabase(ctx.databaseUrl, dbName(ctx, scenario))
  try {
    return await fn(db)
  } finally {
    await db.drop()
  }
}
