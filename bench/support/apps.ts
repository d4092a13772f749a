import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { BenchContext } from './context.ts'
import type { BenchDatabase } from './database.ts'
import { benchKafka } from './kafka.ts'
import { freePort, type NodeProcess, startNode, waitForHttp } from './processes.ts'

const SERVER_MAIN = fileURLToPath(new URL('../../apps/server/dist/start.js', import.meta.url))
const TASKER_MAIN = fileURLToPath(new URL('../../apps/tasker/dist/start.js', import.meta.url))

export const API_KEY = 'bench-key'

/** What starting an app needs from the run: the idle measurement starts a tasker outside a full bench run. */
export type AppContext = Pick<BenchContext, 'runId' | 'appEnv' | 'brokers' | 'logDir' | 'profileDir'>

export type RunningServer = { proc: NodeProcess; url: string }
export type RunningTasker = {
  proc: NodeProcess
  startedAtMs: number
  /** When its consumer group was first seen stable, partitions assigned. */
  readyAtMs: number
}

function profileArgs(ctx: AppContext, name: string, profile: boolean): string[] {
  return profile
    ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `${name}-${ctx.runId}.cpuprofile`]
    : []
}

/** The production server build, on its own port and database; resolves once /health/live answers. */
export async function startServer(
  ctx: BenchContext,
  db: BenchDatabase,
  scenario: string,
  { profile = false, env = {} }: { profile?: boolean; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const port = await freePort()
  const name = `server-${scenario}`
  const proc = startNode(name, [SERVER_MAIN], {
    env: {
      ...ctx.appEnv,
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      // Prometheus's listener on any free port: a fixed one would collide with another server on the machine.
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      API_KEYS: `bench:${API_KEY}`,
      // The bench submits with one key as fast as the server takes it: the per-key limit would measure itself.
      SUBMISSIONS_PER_KEY_MAX: '10000000',
      // As scripts/run-apps.sh and docker-compose.yml start it: with the heap settings of .env.
      NODE_OPTIONS: ctx.appEnv.SERVER_NODE_OPTIONS ?? '',
      ...env,
    },
    logFile: join(ctx.logDir, `${name}.log`),
    nodeOptions: profileArgs(ctx, name, profile),
  })
  await waitForHttp(`http://127.0.0.1:${port}/health/live`, proc).catch(killAndThrow(proc))
  return { proc, url: `http://127.0.0.1:${port}` }
}

export function taskerTopics(ctx: AppContext, scenario: string) {
  const prefix = `bench.${ctx.runId}.${scenario}`
  return {
    KAFKA_TOPIC_TASKS: `${prefix}.task.requested.v1`,
    KAFKA_TOPIC_DEAD_LETTERS: `${prefix}.task.dead-lettered.v1`,
    KAFKA_GROUP_ID: prefix,
  }
}

export type TaskerOptions = {
  profile?: boolean
  /** Names the process and its log apart from the scenario's first tasker (a second one, a restart). */
  label?: string
  /** Settings of this scenario's own on top of the run's. */
  env?: NodeJS.ProcessEnv
}

/** The production tasker build, with the topics and consumer group of `scenario`; does not wait for it to join. */
export function spawnTasker(
  ctx: AppContext,
  db: BenchDatabase,
  scenario: string,
  { profile = false, label, env = {} }: TaskerOptions = {},
): NodeProcess {
  const name = label ? `tasker-${scenario}-${label}` : `tasker-${scenario}`
  return startNode(name, [TASKER_MAIN], {
    env: {
      ...ctx.appEnv,
      // As scripts/run-apps.sh and docker-compose.yml start it: with the heap settings of .env.
      NODE_OPTIONS: ctx.appEnv.TASKER_NODE_OPTIONS ?? '',
      DATABASE_URL: db.url,
      KAFKA_CLIENT_ID: 'bench-tasker',
      ...taskerTopics(ctx, scenario),
      ...env,
    },
    logFile: join(ctx.logDir, `${name}.log`),
    nodeOptions: profileArgs(ctx, name, profile),
  })
}

/**
 * The production tasker build, with topics and a consumer group of its own. Resolves once the group is stable
 * with partitions assigned: from then on, time to completion is the tasker's, not Kafka's group join.
 */
export async function startTasker(
  ctx: AppContext,
  db: BenchDatabase,
  scenario: string,
  options: TaskerOptions = {},
): Promise<RunningTasker> {
  const startedAtMs = Date.now()
  const proc = spawnTasker(ctx, db, scenario, options)
  const readyAtMs = await waitForGroupStable(ctx, taskerTopics(ctx, scenario).KAFKA_GROUP_ID, proc).catch(
    killAndThrow(proc),
  )
  return { proc, startedAtMs, readyAtMs }
}

function killAndThrow(proc: NodeProcess) {
  return (err: unknown): never => {
    proc.kill()
    throw err
  }
}

async function waitForGroupStable(ctx: AppContext, groupId: string, proc: NodeProcess): Promise<number> {
  const admin = benchKafka(ctx.brokers, 'bench-ready').admin()
  await admin.connect()
  try {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      proc.assertAlive()
      const { groups } = await admin.describeGroups([groupId])
      const group = groups[0]
      if (group?.state === 'Stable' && group.members.length > 0) return Date.now()
      await sleep(50)
    }
    throw new Error(`${proc.name}: consumer group ${groupId} not stable within 60 s`)
  } finally {
    await admin.disconnect()
  }
}
