import type { HttpSender, SendCapacity, TaskRepository } from '@request-tasker/application'
import type { SendOutcome, TaskId } from '@request-tasker/domain'
import type { Logger, Queryable, Registry } from '@request-tasker/infrastructure'
import type { Admin } from 'kafkajs'
import { Counter, Gauge, Histogram } from 'prom-client'

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
/** A scrape waits this long for a database or broker answer; past it the gauge keeps its last value. */
const COLLECT_TIMEOUT_MS = 2_000
/** Rows counted at most per gauge: a count must stay cheap however large a backlog grows. */
export const COUNT_CAP = 1_000_000

/** An outcome as a label: the response's status class (`2xx`, `5xx`) or the error code (`timeout`, `dns`, …). */
export function outcomeLabel(outcome: SendOutcome): string {
  return outcome.kind === 'response' ? `${Math.floor(outcome.httpStatusCode / 100)}xx` : outcome.error.code
}

/** The sender, timed: `tasker_sends_total{outcome}` and `tasker_send_duration_seconds{outcome}`. */
export function meteredSender(sender: HttpSender, registry: Registry): HttpSender {
  const sends = new Counter({
    name: 'tasker_sends_total',
    help: 'Requests sent to third parties, by outcome: status class or error code',
    labelNames: ['outcome'],
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'tasker_send_duration_seconds',
    help: 'How long a send took, by outcome',
    labelNames: ['outcome'],
    buckets: SECONDS,
    registers: [registry],
  })
  return {
    async send(request, context) {
      const outcome = await sender.send(request, context)
      const outcomeName = outcomeLabel(outcome)
      sends.inc({ outcome: outcomeName })
      duration.observe({ outcome: outcomeName }, outcome.durationMs / 1000)
      return outcome
    },
  }
}

// When each task became `new` (its submission, its due time, a redrive or a requeue), read on the database's clock
// just before the claim; the claim's own clock (the claimed task's updatedAt) then gives the wait. The tasks are
// read by primary key, one statement per claim, which itself writes many rows.
const QUEUED_AT = `select id, updated_at from tasks where id = any($1::uuid[]) and status = 'new'`

/**
 * The repository, with `tasker_dispatch_latency_seconds`: from the commit that made a task `new` to the start of its
 * send, which is its claim (a claim takes only what free send slots can send) plus the wait for its flow-control
 * key's next send token, when the claim set one (`sendDelays`).
 */
export function timedClaims<T extends TaskRepository>(tasks: T, db: Queryable, registry: Registry, log: Logger): T {
  const latency = new Histogram({
    name: 'tasker_dispatch_latency_seconds',
    help: 'From the commit that queued a task (submission, due retry, redrive) to the start of its send',
    buckets: SECONDS,
    registers: [registry],
  })
  return {
    ...tasks,
    async claim(...args) {
      const queued = await db
        .query<{ id: TaskId; updated_at: Date }>(QUEUED_AT, [args[0]])
        .then((r) => new Map(r.rows.map((row) => [row.id, row.updated_at])))
        .catch((err: unknown) => {
          log.warn({ err }, 'dispatch latency not measured')
          return new Map<TaskId, Date>()
        })
      const result = await tasks.claim(...args)
      for (const task of result.claimed) {
        const at = queued.get(task.id)
        const delayMs = result.sendDelays?.get(task.id) ?? 0
        if (at) latency.observe(Math.max(0, task.updatedAt.getTime() + delayMs - at.getTime()) / 1000)
      }
      return result
    },
  }
}

/**
 * Gauges read when Prometheus scrapes: `outbox_backlog`, `tasks_scheduled{due}`, `kafka_consumer_lag{topic,
 * partition}`, and the send slots. Counts stop at COUNT_CAP; each read gives up after COLLECT_TIMEOUT_MS.
 */
export function observeTasker(
  registry: Registry,
  deps: { db: Queryable; admin: Admin; groupId: string; topic: string; capacity: SendCapacity; log: Logger },
): void {
  const { db, admin, groupId, topic, capacity, log } = deps
  new Gauge({
    name: 'outbox_backlog',
    help: `Outbox entries not yet published to Kafka (counted up to ${COUNT_CAP})`,
    registers: [registry],
    async collect() {
      const rows = await read(log, 'outbox backlog', () =>
        db.query<{ n: number }>('select count(*)::int as n from (select 1 from outbox limit $1) o', [COUNT_CAP]),
      )
      if (rows) this.set(rows.rows[0]?.n ?? 0)
    },
  })
  new Gauge({
    name: 'tasks_scheduled',
    help: `Tasks waiting as scheduled; due="true" for those whose time has come (counted up to ${COUNT_CAP})`,
    labelNames: ['due'],
    registers: [registry],
    async collect() {
      const rows = await read(log, 'scheduled tasks', () =>
        db.query<{ due: number; later: number }>(
          `select count(*) filter (where run_at <= now())::int as due, count(*) filter (where run_at > now())::int as later
           from (select run_at from tasks where status = 'scheduled' limit $1) s`,
          [COUNT_CAP],
        ),
      )
      if (!rows) return
      this.set({ due: 'true' }, rows.rows[0]?.due ?? 0)
      this.set({ due: 'false' }, rows.rows[0]?.later ?? 0)
    },
  })
  new Gauge({
    name: 'kafka_consumer_lag',
    help: "Messages of the task topic not yet committed by this tasker's consumer group, per partition",
    labelNames: ['topic', 'partition'],
    registers: [registry],
    async collect() {
      const lag = await read(log, 'consumer lag', async () => {
        await admin.connect()
        const [ends, [committed]] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId, topics: [topic] }),
        ])
        const done = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]))
        // A partition the group never committed on lags by everything it holds (-1 reads as its start).
        return ends.map((e) => ({
          partition: e.partition,
          lag: Number(e.high) - Math.max(Number(e.low), done.get(e.partition) ?? -1),
        }))
      })
      for (const { partition, lag: n } of lag ?? []) this.set({ topic, partition: String(partition) }, Math.max(0, n))
    },
  })
  new Gauge({
    name: 'send_slots',
    help: 'Send slots: sending (a request in flight), free; and outcomes sent but not yet stored',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const unstored = capacity.unstored.count
      const sending = capacity.held - unstored
      this.set({ state: 'sending' }, sending)
      this.set({ state: 'free' }, Math.max(0, capacity.limits.slots - sending))
      this.set({ state: 'unstored' }, unstored)
    },
  })
}

async function read<T>(log: Logger, what: string, query: () => Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      query(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${COLLECT_TIMEOUT_MS} ms`)), COLLECT_TIMEOUT_MS)
      }),
    ])
  } catch (err) {
    log.warn({ err }, `${what} not measured`)
    return null
  } finally {
    clearTimeout(timer)
  }
}
