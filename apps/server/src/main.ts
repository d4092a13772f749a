import {
  makeCancelTask,
  makeGetTask,
  makeRedriveTask,
  makeSubmitTask,
  makeSubmitTaskOnce,
} from '@request-tasker/application'
import {
  assertMigrationsCurrent,
  createLogger,
  createPool,
  pgTaskRepository,
  uuidV7Ids,
} from '@request-tasker/infrastructure'
import { loadConfig } from './config.js'
import { buildServer } from './server.js'

// Composition root of the HTTP server: config → logger → pool → repository → use cases → routes → listen.
const config = loadConfig(process.env)
const log = createLogger('server', config.LOG_LEVEL)

const pool = createPool({ databaseUrl: config.DATABASE_URL, max: config.DATABASE_POOL_MAX, log })
try {
  await assertMigrationsCurrent(pool, config.MIGRATIONS_DIR)
} catch (err) {
  // Serving against an older schema would fail on the first write; say why, once, and stop.
  log.fatal({ err }, 'refusing to start')
  await pool.end()
  process.exit(1)
}

const tasks = pgTaskRepository(pool)
const submitDeps = {
  tasks,
  newId: uuidV7Ids(),
  now: () => new Date(),
  defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
  defaultRetry: {
    maxAttempts: config.RETRY_MAX_ATTEMPTS,
    backoff: { baseMs: config.RETRY_BASE_MS, maxMs: config.RETRY_MAX_MS },
  },
}
const useCases = {
  submitTask: makeSubmitTask(submitDeps),
  submitTaskOnce: makeSubmitTaskOnce({ ...submitDeps, idempotencyWindowMs: config.IDEMPOTENCY_WINDOW_MS }),
  getTask: makeGetTask({ tasks }),
  redriveTask: makeRedriveTask({ tasks, now: () => new Date() }),
  cancelTask: makeCancelTask({ tasks, now: () => new Date() }),
}
const app = buildServer({ useCases, apiKeys: config.API_KEYS, bodyLimit: config.BODY_LIMIT_BYTES, logger: log })
await app.listen({ port: config.PORT, host: config.HOST })

let stopping = false
async function stop(signal: NodeJS.Signals) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  try {
    await app.close() // stops accepting, lets requests in flight finish
    await pool.end() // only then: those requests still need their connections
    process.exit(0)
  } catch (err) {
    log.error({ err }, 'unclean stop')
    process.exit(1)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
