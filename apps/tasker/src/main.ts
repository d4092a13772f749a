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
  pgTaskEndNotifier,
  pgTaskRepository,
  postgresChecks,
  targetPolicy,
  targetPolicyOptions,
  undiciHttpSender,
} from '@request-tasker/infrastructure'
import { loadConfig } from './config.js'
import { startHealthServer } from './health-server.js'
import { keepConsuming } from './keep-consuming.js'
import { meteredSender, observeTasker, timedClaims } from './metrics.js'
import { startPeriodicLoop } from './periodic-loop.js'
import { createTaskConsumer, runTaskConsumer } from './task-consumer.js'
import { tracedClaims } from './trace-log.js'

// Composition root of the tasker: outbox relay → Kafka → consumer → HTTP send → outcomes, plus the loops that
// keep tasks moving: the lease keeper, the sweeper of run-out leases, the scheduler of due tasks and the reconciler
// of lost messages.
const config = loadConfig(process.env)
const log = createLogger('tasker', config.LOG_LEVEL)

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
const tasks = announcingEnds(pgTaskRepository(pool), pgTaskEndNotifier(pool, log))
// The executor's claims record each task's trace for its log line and time its dispatch (see metrics.ts).
const traced = tracedClaims(timedClaims(tasks, pool, metrics, log))
const sender = undiciHttpSender({
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
  capacity,
  now: () => new Date(),
  random: Math.random,
  leaseGraceMs: config.LEASE_GRACE_MS,
  keyBusyWaitMs: config.KEY_BUSY_WAIT_MS,
  isUnavailable: isDatabaseUnavailable,
  warn: (err, message) => log.warn({ err }, message),
})
const publishPending = makePublishPending({ outbox: pgOutbox(pool), publisher: kafkaQueuePublisher(producer, topics) })
const expireLeases = makeExpireLeases({ tasks })
const promoteDue = makePromoteDue({ tasks })
const requeueLost = makeRequeueLost({ tasks, afterMs: config.RECONCILE_AFTER_MS })
const batch = config.RELAY_BATCH_SIZE

const relay = startPeriodicLoop(
  'outbox-relay',
  async () => ({ more: (await publishPending(batch)) === batch }),
  config.RELAY_POLL_MS,
  log,
)
const listener = await listenForOutbox(pool, () => relay.wake(), log)
// Every third of the grace, so a lease never runs out while this process still holds its task.
const leaseKeeper = startPeriodicLoop(
  'lease-keeper',
  async () => {
    await executor.renewLeases()
    return { more: false }
  },
  Math.max(100, Math.floor(config.LEASE_GRACE_MS / 3)),
  log,
)
const sweeper = startPeriodicLoop(
  'lease-sweeper',
  async () => {
    const { requeued, interrupted } = await expireLeases(batch)
    const traces = await findTraceparents(pool, [...requeued, ...interrupted])
    for (const taskId of requeued) log.warn({ taskId, traceparent: traces.get(taskId) }, 'lease expired, task requeued')
    for (const taskId of interrupted) {
      log.error({ taskId, traceparent: traces.get(taskId) }, 'lease expired with no attempts left, task ends in error')
    }
    if (requeued.length + interrupted.length > 0) relay.wake()
    return { more: requeued.length + interrupted.length === batch }
  },
  config.SWEEP_INTERVAL_MS,
  log,
)
// Due tasks go through the outbox like new ones: a retry is only as timely as this interval, and never lost.
const scheduler = startPeriodicLoop(
  'scheduler',
  async () => {
    const due = await promoteDue(batch)
    if (due.length > 0) {
      log.debug({ count: due.length }, 'due tasks queued')
      relay.wake()
    }
    return { more: due.length === batch }
  },
  config.SCHEDULE_INTERVAL_MS,
  log,
)
const reconciler = startPeriodicLoop(
  'reconciler',
  async () => {
    const lost = await requeueLost(batch)
    const traces = await findTraceparents(pool, lost)
    for (const taskId of lost) {
      log.warn({ taskId, traceparent: traces.get(taskId) }, 'task long new without a message, queued again')
    }
    if (lost.length > 0) relay.wake()
    return { more: lost.length === batch }
  },
  config.RECONCILE_INTERVAL_MS,
  log,
)

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
    log.info(
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
    await Promise.all([relay, leaseKeeper, sweeper, scheduler, reconciler].map((loop) => loop.stop()))
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
