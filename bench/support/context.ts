import type { TaskerConfig } from '../../apps/tasker/dist/config.js'
import { type BenchDatabase, createBenchDatabase } from './database.ts'

/** Everything a baseline or scenario needs from the run: where things are, how big to go, what the apps run with. */
export type BenchContext = {
  readonly runId: string
  /** Profile the apps (--cpu-prof) during S1, S2 and S5. */
  readonly cpuProf: boolean
  readonly databaseUrl: string
  /** The postmaster of the bench's Postgres, whose processes count as Postgres's CPU; null when not on this machine. */
  readonly postmasterPid: number | null
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
  /** Rounds of the steps whose figures are ratios or percentiles (B1, B2, S1, S2, B4, S5, S3): each figure is the median. */
  rounds: number
  warmupS: number
  submitS: number
  connections: number
  endToEndTasks: number
  drainTasks: number
  slowTasks: number
  /** B4: jobs through pg-boss, sent by `connections` senders at once. */
  queueJobs: number
  /** S5: seconds of open-loop submissions at each share of S2's rate. */
  dispatchS: number
  /** S8: submissions per second, and seconds of them before the kill. */
  crashRate: number
  crashLeadS: number
  memoryTasks: number
  rawSends: number
  rawMessages: number
  finishTimeoutMs: number
  /** S6: clients each sending 1 MB submissions, for this long. */
  largeConnections: number
  largeSubmitS: number
  /** S7: tasks queued whose answers are 64 KiB each. */
  largeAnswerTasks: number
  /** S9: requests waiting on GET /tasks/{id}?wait=60 at once, held this long while measured. */
  longPollWaiters: number
  longPollHoldS: number
  /** S10: GET /tasks page times with the table at each size. */
  listSmallRows: number
  listLargeRows: number
}

// A full run repeats its ratio-bearing steps three times and stays under 10 minutes even with the machine busy
// elsewhere (582 s at a load average of 10-13 with 20,000 tasks per S2 round): each round is shorter than the single
// pass it replaced (5 s loads, 10,000-task S2), and the median of three is steadier than any one of them.
export const FULL: Sizes = {
  rounds: 3,
  warmupS: 1,
  submitS: 5,
  connections: 50,
  endToEndTasks: 10_000,
  drainTasks: 10_000,
  slowTasks: 4_000,
  queueJobs: 5_000,
  dispatchS: 6,
  crashRate: 100,
  crashLeadS: 4,
  memoryTasks: 10_000,
  rawSends: 10_000,
  rawMessages: 20_000,
  finishTimeoutMs: 240_000,
  largeConnections: 100,
  largeSubmitS: 15,
  largeAnswerTasks: 20_000,
  longPollWaiters: 2_000,
  longPollHoldS: 10,
  listSmallRows: 10_000,
  listLargeRows: 1_000_000,
}

export const QUICK: Sizes = {
  rounds: 1,
  warmupS: 0,
  submitS: 1,
  connections: 10,
  endToEndTasks: 200,
  drainTasks: 200,
  slowTasks: 200,
  queueJobs: 200,
  dispatchS: 1,
  crashRate: 100,
  crashLeadS: 1,
  memoryTasks: 300,
  rawSends: 500,
  rawMessages: 500,
  finishTimeoutMs: 60_000,
  largeConnections: 10,
  largeSubmitS: 2,
  largeAnswerTasks: 1_000,
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
  /** The target's URL on its first origin, answering at once with a body of `bytes`. */
  sized(bytes: number): string
  /** The target's URL on its first origin, answering at once and noting when the request tagged `mark` arrived. */
  marked(mark: string): string
  /** Arrival times (monotonic ms) of the marks starting with `prefix`, and which came more than once; then forgets them. */
  takeMarks(prefix: string): Promise<Marks>
}

export type Marks = { arrivals: Record<string, number>; repeats: Record<string, number> }

export function targetAt(pid: number, ports: number[]): Target {
  const urlAt = (port: number, delayMs: number) => `http://127.0.0.1:${port}/echo?delay=${delayMs}`
  return {
    pid,
    ports,
    url: (delayMs) => urlAt(ports[0]!, delayMs),
    urlsPerOrigin: (delayMs) => ports.map((p) => urlAt(p, delayMs)),
    sized: (bytes) => `http://127.0.0.1:${ports[0]}/echo?size=${bytes}`,
    marked: (mark) => `http://127.0.0.1:${ports[0]}/echo?mark=${encodeURIComponent(mark)}`,
    async takeMarks(prefix) {
      const res = await fetch(`http://127.0.0.1:${ports[0]}/marks?prefix=${encodeURIComponent(prefix)}`)
      if (!res.ok) throw new Error(`target /marks answered ${res.status}`)
      return (await res.json()) as Marks
    },
  }
}

/** The body every submit in the bench sends (and B1 parses): a GET to the fast target with one header. */
export function submitBody(ctx: BenchContext, url = ctx.target.url(0), timeoutMs = 10_000): string {
  return JSON.stringify({ method: 'GET', url, headers: { accept: 'text/plain' }, timeoutMs })
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
