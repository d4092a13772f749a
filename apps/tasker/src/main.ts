import {
  type AttemptResult,
  makeExecuteTasks,
  makePromoteDue,
  makePublishPending,
  makeRequeueStale,
} from '@request-tasker/application'
import {
  assertMigrationsCurrent,
  checkReadiness,
  createKafka,
  createLogger,
  createPool,
  createProducer,
  createTaskConsumer,
  ensureTopics,
  kafkaCheck,
  kafkaQueuePublisher,
  listenForOutbox,
  pgOutbox,
  pgTaskRepository,
  postgresChecks,
  runTaskConsumer,
  targetPolicy,
  targetPolicyOptions,
  undiciHttpSender,
} from '@request-tasker/infrastructure'
import { loadConfig } from './config.js'
import { startHealthServer } from './health-server.js'
import { startPeriodicLoop } from './periodic-loop.js'

// Composition root of the tasker: outbox relay → Kafka → consumer → HTTP send → results, plus the stale sweeper
// and the scheduler that wakes tasks waiting for a retry.
const config = loadConfig(process.env)
const log = createLogger('tasker', config.LOG_LEVEL)
const now = () => new Date()

const pool = createPool({ databaseUrl: config.DATABASE_URL, max: config.DATABASE_POOL_MAX, log })
try {
  await assertMigrationsCurrent(pool, config.MIGRATIONS_DIR)
} catch (err) {
  // Claiming against an older schema would fail on the first message; say why, once, and stop.
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
const health = await startHealthServer({
  host: config.HEALTH_HOST,
  port: config.HEALTH_PORT,
  readiness: () => checkReadiness(readinessChecks),
  log,
})
await ensureTopics(kafka, topics, {
  partitions: config.KAFKA_PARTITIONS,
  replicationFactor: config.KAFKA_REPLICATION_FACTOR,
})
const producer = createProducer(kafka)
await producer.connect()

const tasks = pgTaskRepository(pool)
const publishPending = makePublishPending({ outbox: pgOutbox(pool), publisher: kafkaQueuePublisher(producer, topics) })
const requeueStale = makeRequeueStale({ tasks, now })
const promoteDue = makePromoteDue({ tasks, now })
const sender = undiciHttpSender({
  resultBodyMaxBytes: config.RESULT_BODY_MAX_BYTES,
  responseMaxBytes: config.RESPONSE_MAX_BYTES,
  connections: config.HTTP_CONNECTIONS_PER_ORIGIN,
  targets: targetPolicy(targetPolicyOptions(config)),
  log,
})
const executeTasks = makeExecuteTasks({
  tasks,
  sender,
  now,
  random: Math.random,
  leaseGraceMs: config.LEASE_GRACE_MS,
})

const relay = startPeriodicLoop(
  'outbox-relay',
  async () => ({ more: (await publishPending(config.RELAY_BATCH_SIZE)) === config.RELAY_BATCH_SIZE }),
  config.RELAY_POLL_MS,
  log,
)
const listener = await listenForOutbox(pool, () => relay.wake(), log)
const sweeper = startPeriodicLoop(
  'stale-sweeper',
  async () => {
    const requeued = await requeueStale(config.RELAY_BATCH_SIZE)
    for (const taskId of requeued) log.warn({ taskId }, 'lease expired, task requeued')
    if (requeued.length > 0) relay.wake()
    return { more: requeued.length === config.RELAY_BATCH_SIZE }
  },
  config.SWEEP_INTERVAL_MS,
  log,
)
// Due tasks go through the outbox like new ones: a retry is only as timely as this interval, and never lost.
const scheduler = startPeriodicLoop(
  'scheduler',
  async () => {
    const due = await promoteDue(config.RELAY_BATCH_SIZE)
    if (due.length > 0) {
      log.debug({ count: due.length }, 'due tasks queued')
      relay.wake()
    }
    return { more: due.length === config.RELAY_BATCH_SIZE }
  },
  config.SCHEDULE_INTERVAL_MS,
  log,
)

// Registered before joining the group, which can take a session timeout: a SIGTERM then still stops cleanly.
let consumer: { stop(): Promise<void> } | undefined
let stopping = false
process.once('SIGTERM', () => void shutdown('SIGTERM'))
process.once('SIGINT', () => void shutdown('SIGINT'))

consumer = await runTaskConsumer({
  consumer: createTaskConsumer(kafka, {
    groupId: config.KAFKA_GROUP_ID,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
  }),
  topics,
  producer,
  log,
  chunkSize: config.CONSUMER_CHUNK_SIZE,
  partitionsConsumedConcurrently: config.PARTITIONS_CONSUMED_CONCURRENTLY,
  onGiveUp: (err) => {
    // The outbox and Kafka keep the work; exiting lets the supervisor start a tasker that consumes again.
    log.fatal({ err }, 'task consumer gave up, exiting')
    process.exit(1)
  },
  maxInFlight: config.SEND_CONCURRENCY,
  handle: async (ids) =>
    (await executeTasks(ids)).map(({ sent, stored }) => ({ sent, stored: stored.then(logOutcome) })),
})
log.info({ topics, groupId: config.KAFKA_GROUP_ID, sendConcurrency: config.SEND_CONCURRENCY }, 'tasker started')

function logOutcome(result: AttemptResult | null) {
  if (!result) return // not claimed: a redelivered message of a finished task, or one another tasker holds
  const { taskId, n, outcome } = result.attempt
  const { next } = result
  const then = next.status === 'scheduled' ? { next: next.status, runAt: next.runAt } : { next: next.status }
  if (outcome.kind === 'response') {
    log.info(
      { taskId, attempt: n, httpStatusCode: outcome.httpStatusCode, durationMs: outcome.durationMs, ...then },
      'task sent',
    )
  } else {
    log.info({ taskId, attempt: n, error: outcome.error, durationMs: outcome.durationMs, ...then }, 'task send failed')
  }
}

async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'stopping')
  // Sends still running at the deadline are abandoned: their tasks stay leased and the sweeper requeues them.
  const deadline = setTimeout(() => {
    log.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed, abandoning sends in flight')
    process.exit(0)
  }, config.SHUTDOWN_TIMEOUT_MS)
  deadline.unref()
  try {
    await consumer?.stop() // takes no more tasks, stores the outcomes of those in flight and commits them
    await Promise.all([relay.stop(), sweeper.stop(), scheduler.stop(), listener.close()])
    await producer.disconnect()
    await Promise.all([probeAdmin.disconnect(), health.close()])
    await sender.close()
    await pool.end()
    log.info('stopped')
    process.exit(0)
  } catch (err) {
    log.error({ err }, 'unclean stop')
    process.exit(1)
  }
}
