import {
  createTestDatabase,
  createTestTopics,
  type TestDatabase,
  type TestTopics,
} from '@request-tasker/infrastructure/testing'
import { afterAll, beforeAll, beforeEach, inject } from 'vitest'
import { type AppName, type AppProcess, type ServerProcess, spawnApp, startServer, startTasker } from './app-process.js'
import { startTargetServer, type TargetHandler, type TargetServer } from './target-server.js'
import { type TaskApi, taskApi } from './task-api.js'

export const API_KEY = 'e2e-secret-key'

/** Where Postgres and Kafka are; by default the ones every test file shares. */
export type Services = { databaseUrl: string; kafkaBrokers: string }
const shared = (): Services => ({ databaseUrl: inject('databaseUrl'), kafkaBrokers: inject('kafkaBrokers') })

export type E2e = {
  /** This file's schema; its pool reads the same tables as the apps. */
  readonly db: TestDatabase
  /** This file's topics and a kafkajs client for them. */
  readonly kafka: TestTopics
  /** The tasker's consumer group: every tasker of this file joins the same one, as replicas do. */
  readonly groupId: string
  /** What both apps get: this file's schema (as a startup option in DATABASE_URL), topics, group and API key. */
  appEnv(extra?: Record<string, string>): Record<string, string>
  /** Starts an app without waiting for it to be ready, for a test of how it fails. */
  spawnApp(name: AppName, env?: Record<string, string>): AppProcess
  startServer(env?: Record<string, string>): Promise<ServerProcess>
  startTasker(env?: Record<string, string>, readyMs?: number): Promise<AppProcess>
  startTarget(handler?: TargetHandler): Promise<TargetServer>
  api(server: ServerProcess, connections?: number): TaskApi
  /** How many tasks are in each status, e.g. `{ done: 12, new: 3 }`. */
  statusCounts(): Promise<Record<string, number>>
  /**
   * Database sessions the app still has open. After kill -9 a statement it sent may still run and commit:
   * none is left once this reads 0.
   */
  databaseSessions(app: AppProcess): Promise<number>
}

/**
 * One test file's world: a fresh schema, its own topics and consumer group, and every app, target and client it
 * starts, all torn down after the file (apps first, so none outlives its schema). A failed test names the app logs.
 */
export function useE2e(name: string, services: () => Services = shared): E2e {
  let db: TestDatabase | undefined
  let kafka: TestTopics | undefined
  let groupId = ''
  const apps: AppProcess[] = []
  const sessionNames = new Map<number, string>() // pid → application_name of its database sessions
  const targets: TargetServer[] = []
  const apis: TaskApi[] = []
  const label = name.replace(/[^a-z0-9-]+/gi, '-')

  beforeAll(async () => {
    const { databaseUrl, kafkaBrokers } = services()
    db = await createTestDatabase(name, databaseUrl)
    kafka = await createTestTopics(name, kafkaBrokers)
    groupId = kafka.groupId('tasker')
  })
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(`app logs of ${name}:\n${apps.map((a) => `  ${a.name} (pid ${a.pid}): ${a.logPath}`).join('\n')}`)
    })
  })
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.kill()))
    await Promise.all([...apis.map((a) => a.close()), ...targets.map((t) => t.close())])
    await kafka?.cleanup()
    await db?.close()
  })

  let spawned = 0
  // Each process gets its own application_name, so pg_stat_activity tells its sessions apart.
  function named(name: AppName, extra: Record<string, string>) {
    const env = appEnv(extra)
    const url = new URL(env.DATABASE_URL!)
    const applicationName = `${label}.${name}.${++spawned}`
    url.searchParams.set('application_name', applicationName)
    const track = (app: AppProcess) => {
      apps.push(app)
      sessionNames.set(app.pid, applicationName)
    }
    return { env: { ...env, DATABASE_URL: url.href }, track }
  }
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useE2e: used before its beforeAll ran')
    return value
  }

  function appEnv(extra: Record<string, string> = {}): Record<string, string> {
    const { schema, databaseUrl } = ready(db)
    const { topics } = ready(kafka)
    const url = new URL(databaseUrl)
    // A libpq startup option, honoured by pg: every connection of the app starts in this file's schema.
    url.searchParams.set('options', `-c search_path=${schema}`)
    return {
      DATABASE_URL: url.href,
      KAFKA_BROKERS: services().kafkaBrokers,
      KAFKA_TOPIC_TASKS: topics.tasks,
      KAFKA_TOPIC_DEAD_LETTERS: topics.deadLetters,
      KAFKA_GROUP_ID: groupId,
      API_KEYS: `e2e:${API_KEY}`,
      // The target servers listen on loopback, which the SSRF guard (on, as in production) refuses otherwise.
      TARGET_ALLOWLIST: '127.0.0.0/8',
      // Taskers of one file run side by side: each takes a free port for its probes and logs it.
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...extra,
    }
  }

  return {
    get db() {
      return ready(db)
    },
    get kafka() {
      return ready(kafka)
    },
    get groupId() {
      return groupId
    },
    appEnv,
    spawnApp(name, extra = {}) {
      const { env, track } = named(name, extra)
      const app = spawnApp(name, label, env)
      track(app)
      return app
    },
    async startServer(extra = {}) {
      const { env, track } = named('server', extra)
      return startServer(label, env, { track })
    },
    async startTasker(extra = {}, readyMs) {
      const { env, track } = named('tasker', extra)
      return startTasker(label, env, { track, readyMs })
    },
    async startTarget(handler) {
      const target = await startTargetServer(handler)
      targets.push(target)
      return target
    },
    api(server, connections) {
      const api = taskApi(server.url, API_KEY, connections)
      apis.push(api)
      return api
    },
    async statusCounts() {
      const { rows } = await ready(db).pool.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from tasks group by status',
      )
      return Object.fromEntries(rows.map((r) => [r.status, r.n]))
    },
    async databaseSessions(app) {
      const { rows } = await ready(db).pool.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where application_name = $1',
        [sessionNames.get(app.pid)],
      )
      return rows[0]!.n
    },
  }
}
