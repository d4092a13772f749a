import { makeFlowControlUseCases, makeSigningSecretUseCases } from '@request-tasker/application'
import {
  assertMigrationsCurrent,
  assertSecretsReadable,
  checkReadiness,
  createLogger,
  createPool,
  createRegistry,
  isDatabaseUnavailable,
  observePools,
  pgBatchStore,
  pgBulkChanges,
  pgFlowControls,
  pgIdempotencyKeys,
  pgOutboxNotifier,
  pgSigningSecrets,
  pgTaskEndings,
  pgTaskList,
  pgTaskRepository,
  pgTaskViews,
  postgresChecks,
  QUEUE_TIMEOUT_MESSAGE,
  secretBox,
  targetPolicy,
  targetPolicyOptions,
  uuidV7Ids,
} from '@request-tasker/infrastructure'
import closeWithGrace from 'close-with-grace'
import { loadConfig } from './config.js'
import { startMetricsServer } from './metrics-server.js'
import { buildServer } from './server.js'
import { makeTaskUseCases } from './use-cases.js'

// Composition root of the HTTP server: config → logger → pool → repository → use cases → routes → listen.
const STOP_GRACE_MS = 10_000
const config = loadConfig(process.env)
const log = createLogger('server', config.LOG_LEVEL)

const pool = createPool({
  databaseUrl: config.DATABASE_URL,
  max: config.DATABASE_POOL_MAX,
  acquireTimeoutMs: config.DATABASE_ACQUIRE_TIMEOUT_MS,
  log,
})
const secrets = secretBox(config.SECRETS_KEYS)
try {
  await assertMigrationsCurrent(pool, config.MIGRATIONS_DIR)
  await assertSecretsReadable(pool, secrets)
} catch (err) {
  // Serving against an older schema would fail on the first write, and without the keys of the secrets it holds
  // their tasks could not be sent; say why, once, and stop.
  log.fatal({ err }, 'refusing to start')
  await pool.end()
  process.exit(1)
}

const tasks = pgTaskRepository(pool, { secrets })
const flowControls = pgFlowControls(pool)
const newId = uuidV7Ids()
const signingSecrets = pgSigningSecrets(pool, secrets, newId)
const signedKeys = config.SIGNED_API_KEYS
// Long-polls wait on one LISTEN connection of its own, outside the pool: waiting holds no pooled connection.
const endings = await pgTaskEndings(config.DATABASE_URL, log)
const useCases = makeTaskUseCases({
  tasks,
  flowControls,
  secretsAtRest: secrets.keyId !== null,
  signing: { byDefault: (id) => signedKeys.has('*') || signedKeys.has(id), secrets: signingSecrets },
  // A submission waits for its statement as long as it would for a connection: then 503, never written.
  sharing: {
    isUnavailable: isDatabaseUnavailable,
    maxQueueMs: config.DATABASE_ACQUIRE_TIMEOUT_MS,
    queueTimeout: () => new Error(QUEUE_TIMEOUT_MESSAGE),
  },
  keys: pgIdempotencyKeys(pool),
  list: pgTaskList(pool),
  bulk: pgBulkChanges(pool),
  batches: pgBatchStore(pool, { secrets }),
  views: pgTaskViews(pool),
  endings,
  targets: targetPolicy(targetPolicyOptions(config)),
  wakeRelay: pgOutboxNotifier(pool, log),
  newId,
  now: () => new Date(),
  defaultTimeoutMs: config.DEFAULT_TIMEOUT_MS,
  headerLimits: { maxCount: config.TASK_HEADERS_MAX_COUNT, maxBytes: config.TASK_HEADERS_MAX_BYTES },
  defaultRetry: {
    maxAttempts: config.RETRY_MAX_ATTEMPTS,
    backoff: { baseMs: config.RETRY_BASE_MS, maxMs: config.RETRY_MAX_MS },
  },
  idempotencyWindowMs: config.IDEMPOTENCY_WINDOW_MS,
})
// Ready = Postgres answers with the expected schema. Kafka is left out on purpose: a submission only writes the
// outbox, so the server keeps accepting tasks through a broker outage, and taking it out of rotation then
// would turn that outage into an API outage. The tasker's readiness includes Kafka.
// The probes have a connection of their own: they never wait behind submissions, and the submissions' shedding
// count (pool.waitingCount) never holds a probe.
const probePool = createPool({
  databaseUrl: config.DATABASE_URL,
  max: 1,
  acquireTimeoutMs: config.DATABASE_ACQUIRE_TIMEOUT_MS,
  log,
})
const readinessChecks = postgresChecks(probePool, config.MIGRATIONS_DIR)
const registry = createRegistry()
observePools(registry, { main: pool, probes: probePool })
const app = buildServer({
  metrics: { registry, waiters: endings.waiting },
  batchBodyLimit: config.BATCH_BODY_LIMIT_BYTES,
  useCases,
  flowControls: makeFlowControlUseCases({ flowControls }),
  signingSecrets: makeSigningSecretUseCases({ secrets: signingSecrets }),
  apiKeys: config.API_KEYS,
  bodyLimit: config.BODY_LIMIT_BYTES,
  maxInflightRequestBytes: config.MAX_INFLIGHT_REQUEST_BYTES,
  timeouts: {
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: config.HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: config.KEEP_ALIVE_TIMEOUT_MS,
    connectionTimeoutMs: config.CONNECTION_TIMEOUT_MS,
  },
  logger: log,
  readiness: () => checkReadiness(readinessChecks),
  readinessCacheMs: config.READINESS_CACHE_MS,
  submissionLimit: { max: config.SUBMISSIONS_PER_KEY_MAX, windowMs: config.SUBMISSIONS_PER_KEY_WINDOW_MS },
  shedding: {
    // Submissions queue in the repository's batches before they ask the pool: both are waiting for the database.
    pressure: { poolWaiting: () => pool.waitingCount + useCases.submitTask.queued() },
    limits: { maxPoolWaiting: config.SHED_POOL_WAITING, maxEventLoopDelayMs: config.SHED_EVENT_LOOP_DELAY_MS },
  },
})
await app.listen({ port: config.PORT, host: config.HOST })
// Prometheus reads /metrics on a listener of its own, off the API's port (see README, Metrics).
const metricsServer = await startMetricsServer({ host: config.METRICS_HOST, port: config.METRICS_PORT, registry, log })

// On SIGTERM or SIGINT: stop accepting, let the requests in flight finish, then end the pools (those requests
// still need their connections). A second signal, or 10 s (a container's usual grace before SIGKILL), ends it at
// once with code 1; so does an uncaught error, after the same close.
closeWithGrace({ delay: STOP_GRACE_MS, logger: log }, async function stop({ signal, err }) {
  if (err) log.fatal({ err }, 'stopping after an uncaught error')
  else log.info({ signal }, 'stopping')
  await app.close()
  await Promise.all([metricsServer.close(), endings.close()])
  await Promise.all([pool.end(), probePool.end()])
})
