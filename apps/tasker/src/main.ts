import {
  type AttemptResult,
  announcingEnds,
  makeExpireLeases,
  makePromoteDue,
  makePublishPending,
  makeRequeueLost,
  makeTaskExecutor,
  SendCapacity,
} from '@request-tasker/application'
import {
  assertMigrationsCurrent,
  assertSecretsReadable,
  checkReadiness,
  createKafka,
  createLogger,
  createPool,
  createProducer,
  createRegistry,
  ensureTopics,
  findTraceparents,
  isDatabaseUnavailable,
  kafkaCheck,
  kafkaQueuePublisher,
  listenForOutbox,
  observePools,
  pgOutbox,
  pgSigningSecrets,
  pgTaskEndNotifier,
  pgTaskRepository,
  postgresChecks,
  secretBox,
  standardWebhookSigner,
  targetPolicy,
  targetPolicyOptions,
  undiciHttpSender,
  uuidV7Ids,
} from '@request-tasker/infrastructure'
import { loadConfig } from './config.js'
import { startHealthServer } from './health-server.js'
import { keepConsuming } from './keep-consuming.js'
import { meteredSender, observeTasker, timedClaims } from './metrics.js'
import { createTaskConsumer, runTaskConsumer } from './task-consumer.js'
import { startTaskLoops } from './task-loops.js'
import { tracedClaims } from './trace-log.js'

// Composition root of the tasker: outbox relay → Kafka → consumer → HTTP send → outcomes, plus the loops that
// keep tasks moving: the lease keeper, the sweeper of run-out leases, the scheduler of due tasks and the reconciler
// of lost messages.
const config = loadConfig(process.env)
const log = createLogger('tasker', config.LOG_LEVEL)

const pool = createPool({ databaseUrl: config.DATABASE_URL, max: config.DATABASE_POOL_MAX, log })
const secrets = secretBox(config.SECRETS_KEYS)
try {
  await assertMigrationsCurrent(pool, config.MIGRATIONS_DIR)
  await assertSecretsReadable(pool, secrets)
} catch (err) {
  // Claiming against an older schema would fail on the first message, and without the keys of the secrets the
  // database holds their tasks could not be sent; say why, once, and stop.
  log.fatal({ err }, 'refusing to start')
  await pool.end()
  process.exit(1)
}

const topics = { tasks: config.KAFKA_TOPIC_TASKS, deadLetters: config.KAFKA_TOPIC_DEAD_LETTERS }
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, log })
// Ready = Postgres with the expected schema, and a broker that answers. The probe's admin client does not retry:
// its 2 s budget is the whole answer.
const probeAdmin = kafka.admin({ retry: { retries: 0 } })
const readinessChecks = { ...postgresChecks(pool, config.MIGRATIONS_DIR), kafka: kafkaCheck(probeAdmin) }
const metrics = createRegistry()
const metricsAdmin = kafka.admin({ retry: { retries: 0 } })
const health = await startHealthServer({
  host: config.HEALTH_HOST,
  port: config.HEALTH_PORT,
  readiness: () => checkReadiness(readinessChecks),
  log,
  metrics,
})
await ensureTopics(kafka, topics, {
  partitions: config.KAFKA_PARTITIONS,
  replicationFactor: config.KAFKA_REPLICATION_FACTOR,
})
const producer = createProducer(kafka)
await producer.connect()

// Tasks this tasker ends are announced after their commit, for the server's long-polls (README, GET /tasks/{id}?wait).
const tasks = announcingEnds(pgTaskRepository(pool, { secrets }), pgTaskEndNotifier(pool, log))
// The executor's claims record each task's trace for its log line and time its dispatch (see metrics.ts).
const traced = tracedClaims(timedClaims(tasks, pool, metrics, log))
const signingSecrets = pgSigningSecrets(pool, secrets, uuidV7Ids())
const sender = undiciHttpSender({
  secrets,
  traceparentOutbound: config.TRACEPARENT_OUTBOUND === 'on',
  resultBodyMaxBytes: config.RESULT_BODY_MAX_BYTES,
  responseMaxBytes: config.RESPONSE_MAX_BYTES,
  connections: config.HTTP_CONNECTIONS_PER_ORIGIN,
  targets: targetPolicy(targetPolicyOptions(config)),
  log,
})
const capacity = new SendCapacity({
  slots: config.SEND_CONCURRENCY,
  slotsPerKey: Math.min(config.SEND_SLOTS_PER_KEY, config.SEND_CONCURRENCY),
  unstored: config.OUTCOME_BUFFER,
  unstoredBytes: config.OUTCOME_BUFFER_BYTES,
})
observePools(metrics, { main: pool })
observeTasker(metrics, {
  db: pool,
  admin: metricsAdmin,
  groupId: config.KAFKA_GROUP_ID,
  topic: topics.tasks,
  capacity,
  log,
})
const executor = makeTaskExecutor({
  tasks: traced.tasks,
  sender: meteredSender(sender, metrics),
  signer: standardWebhookSigner((ownerKeyId) => signingSecrets.activeSecrets(ownerKeyId)),
  capacity,
  now: () => new Date(),
  random: Math.random,
  leaseGraceMs: config.LEASE_GRACE_MS,
  keyBusyWaitMs: config.KEY_BUSY_WAIT_MS,
  flow: {
    parallelism: config.FLOW_DEFAULT_PARALLELISM,
    breaker: { failures: config.FLOW_BREAKER_FAILURES, coolDownMs: config.FLOW_BREAKER_COOLDOWN_MS },
    waitMs: config.FLOW_WAIT_MS,
  },
  onCircuit: ({ ownerKeyId, key, circuit }) => log.warn({ ownerKeyId, flowKey: key, circuit }, 'circuit changed'),
  onQueued: () => loops.wakeRelay(),
  isUnavailable: isDatabaseUnavailable,
  warn: (err, message) => log.warn({ err }, message),
})
const loops = startTaskLoops({
  publishPending: makePublishPending({ outbox: pgOutbox(pool), publisher: kafkaQueuePublisher(producer, topics) }),
  renewLeases: () => executor.renewLeases(),
  expireLeases: makeExpireLeases({ tasks }),
  promoteDue: makePromoteDue({ tasks }),
  requeueLost: makeRequeueLost({ tasks, afterMs: config.RECONCILE_AFTER_MS }),
  batch: config.RELAY_BATCH_SIZE,
  traceparents: (ids) => findTraceparents(pool, ids),
  intervals: {
    relayMs: config.RELAY_POLL_MS,
    leaseGraceMs: config.LEASE_GRACE_MS,
    sweepMs: config.SWEEP_INTERVAL_MS,
    scheduleMs: config.SCHEDULE_INTERVAL_MS,
    reconcileMs: config.RECONCILE_INTERVAL_MS,
  },
  log,
})
const listener = await listenForOutbox(pool, loops.wakeRelay, log)

// Registered before joining the group, which can take a session timeout: a SIGTERM then still stops cleanly.
let consuming: { stop(): Promise<void> } | undefined
let stopping = false
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))

consuming = await keepConsuming(
  (onGiveUp) =>
    runTaskConsumer({
      consumer: createTaskConsumer(kafka, {
        groupId: config.KAFKA_GROUP_ID,
        sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
      }),
      topics,
      producer,
      log,
      chunkSize: config.CONSUMER_CHUNK_SIZE,
      partitionsConsumedConcurrently: config.PARTITIONS_CONSUMED_CONCURRENTLY,
      onGiveUp,
      room: capacity,
      execute: async (ids) =>
        (await executor.execute(ids)).map((run, i) =>
          run.then(logOutcome, (err: unknown) => {
            traced.take(ids[i]!) // its outcome is never logged: let its trace go
            throw err
          }),
        ),
    }),
  log,
)
log.info({ topics, groupId: config.KAFKA_GROUP_ID, sendConcurrency: config.SEND_CONCURRENCY }, 'tasker started')

function logOutcome(result: AttemptResult | null) {
  if (!result) return // not claimed: a redelivered message of a finished task, or one another tasker holds
  const { taskId, n, outcome } = result.attempt
  const { next } = result
  const traceparent = traced.take(taskId)
  const then = next.status === 'scheduled' ? { next: next.status, delayMs: next.delayMs } : { next: next.status }
  if (outcome.kind === 'response') {
    // A send that ended its task well is logged at debug only: a line per task is too dear at full rate. One
    // that will be retried, or ended the task in error, stays at info, as do failed sends.
    const level = next.status === 'done' ? 'debug' : 'info'
    log[level](
      {
        taskId,
        traceparent,
        attempt: n,
        httpStatusCode: outcome.httpStatusCode,
        durationMs: outcome.durationMs,
        ...then,
      },
      'task sent',
    )
  } else {
    log.info(
      { taskId, traceparent, attempt: n, error: outcome.error, durationMs: outcome.durationMs, ...then },
      'task send failed',
    )
  }
}

async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  // Sends still running at the deadline are abandoned: their tasks stay leased and come back when the lease runs out.
  const deadline = setTimeout(() => {
    log.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed, abandoning sends in flight')
    process.exit(0)
  }, config.SHUTDOWN_TIMEOUT_MS)
  deadline.unref()
  try {
    await consuming?.stop() // takes no more tasks, stores the outcomes of those in flight and commits them
    await loops.stop()
    await listener.close()
    await producer.disconnect()
    await Promise.all([probeAdmin.disconnect(), metricsAdmin.disconnect(), health.close()])
    await sender.close()
    await pool.end()
    log.info('stopped')
    process.exit(0)
  } catch (err) {
    log.error({ err }, 'unclean stop')
    process.exit(1)
  }
}
