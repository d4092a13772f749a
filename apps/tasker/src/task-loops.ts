import type { ExpiredLeases } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type { Logger } from '@request-tasker/infrastructure'
import { startPeriodicLoop } from './periodic-loop.js'

type Pass = (limit: number) => Promise<readonly TaskId[]>

/** The scheduler never rests less than this, so a task due in a moment costs no busy loop. */
const MIN_SCHEDULER_REST_MS = 5

export type TaskLoopsDeps = {
  publishPending: (limit: number) => Promise<number>
  renewLeases: () => Promise<number>
  expireLeases: (limit: number) => Promise<ExpiredLeases>
  promoteDue: (limit: number) => Promise<{ promoted: readonly TaskId[]; nextDueInMs: number | null }>
  requeueLost: Pass
  /** Most rows one pass of a loop takes; a full pass goes again at once. */
  batch: number
  intervals: { relayMs: number; leaseGraceMs: number; sweepMs: number; scheduleMs: number; reconcileMs: number }
  /** The traceparents of tasks known only by id, for the lines that log them; absent: lines without. */
  traceparents?: (ids: readonly TaskId[]) => Promise<ReadonlyMap<TaskId, string>>
  log: Logger
}

/**
 * The loops that keep tasks moving besides the consumer, each pg-boss's shape (see periodic-loop.ts): the relay
 * publishes the outbox; the lease keeper renews the leases this process holds; the sweeper settles the leases of
 * dead taskers; the scheduler queues tasks whose wait is over; the reconciler queues tasks whose message was lost.
 * Every loop that queues a task wakes the relay, so the task does not wait for its next poll.
 */
export function startTaskLoops(deps: TaskLoopsDeps) {
  const { batch, intervals, log } = deps
  const traces = async (ids: readonly TaskId[]) =>
    ids.length > 0 && deps.traceparents ? deps.traceparents(ids) : new Map<TaskId, string>()
  const relay = startPeriodicLoop(
    'outbox-relay',
    async () => ({ more: (await deps.publishPending(batch)) === batch }),
    intervals.relayMs,
    log,
  )
  const queued = (ids: readonly TaskId[]) => {
    if (ids.length > 0) relay.wake()
    return { more: ids.length === batch }
  }
  // Every third of the grace, so a lease never runs out while this process still holds its task.
  const leaseKeeper = startPeriodicLoop(
    'lease-keeper',
    async () => {
      await deps.renewLeases()
      return { more: false }
    },
    Math.max(100, Math.floor(intervals.leaseGraceMs / 3)),
    log,
  )
  const sweeper = startPeriodicLoop(
    'lease-sweeper',
    async () => {
      const { requeued, interrupted } = await deps.expireLeases(batch)
      const trace = await traces([...requeued, ...interrupted])
      for (const taskId of requeued)
        log.warn({ taskId, traceparent: trace.get(taskId) }, 'lease expired, task requeued')
      for (const taskId of interrupted) {
        log.error({ taskId, traceparent: trace.get(taskId) }, 'lease expired with no attempts left, task ends in error')
      }
      return queued([...requeued, ...interrupted])
    },
    intervals.sweepMs,
    log,
  )
  // Due tasks go through the outbox like new ones, never lost. The scheduler rests until the next is due (or the
  // interval at most), so a rate-limited key's tasks leave at their places in its queue, not bunched a poll later.
  const scheduler = startPeriodicLoop(
    'scheduler',
    async () => {
      const { promoted, nextDueInMs } = await deps.promoteDue(batch)
      if (promoted.length > 0) log.debug({ count: promoted.length }, 'due tasks queued')
      const restMs = nextDueInMs === null ? undefined : Math.max(MIN_SCHEDULER_REST_MS, nextDueInMs)
      return { ...queued(promoted), ...(restMs !== undefined && { restMs }) }
    },
    intervals.scheduleMs,
    log,
  )
  const reconciler = startPeriodicLoop(
    'reconciler',
    async () => {
      const lost = await deps.requeueLost(batch)
      const trace = await traces(lost)
      for (const taskId of lost) {
        log.warn({ taskId, traceparent: trace.get(taskId) }, 'task long new without a message, queued again')
      }
      return queued(lost)
    },
    intervals.reconcileMs,
    log,
  )
  return {
    /** Tells the relay that the outbox has something new (a NOTIFY came). */
    wakeRelay: () => relay.wake(),
    /** Resolves once every loop's pass in flight has finished. */
    async stop() {
      await Promise.all([relay, leaseKeeper, sweeper, scheduler, reconciler].map((loop) => loop.stop()))
    },
  }
}
