import { unreadableLetterOf } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import { ACKS_ALL, decodeTaskMessage, type Logger, type Topics } from '@request-tasker/infrastructure'
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs'
import { OffsetProgress } from './offset-progress.js'

/**
 * kafkajs heartbeats only from inside the consume loop (there is no background heartbeat thread). A batch hands its
 * tasks over as soon as they are claimed and heartbeats while it waits for room to claim, so a member answers
 * within seconds however long its sends take. A crashed tasker's partitions move after sessionTimeout; its
 * claimed tasks are their leases', not Kafka's, concern.
 */
export const TASK_CONSUMER_TIMEOUTS = { sessionTimeout: 30_000, rebalanceTimeout: 60_000, heartbeatInterval: 3_000 }

/** Offsets that became committable within this long go to the broker in one commit. */
const COMMIT_DELAY_MS = 100
/** After a refused commit (a rebalance, say), the next try waits this long. */
const COMMIT_RETRY_MS = 1_000
/** How often a batch waiting for room heartbeats and checks that it should still run. */
const ROOM_WAIT_MS = 1_000
/** How long a batch with little room waits for more before it claims what there is. */
const GATHER_MS = 20

export function createTaskConsumer(
  kafka: Kafka,
  {
    groupId,
    maxWaitTimeInMs = 1_000,
    sessionTimeoutMs = TASK_CONSUMER_TIMEOUTS.sessionTimeout,
  }: {
    groupId: string
    maxWaitTimeInMs?: number
    /** How long a silent member keeps its partitions, and so how long a group with a crashed member stalls. */
    sessionTimeoutMs?: number
  },
): Consumer {
  return kafka.consumer({
    groupId,
    ...TASK_CONSUMER_TIMEOUTS,
    sessionTimeout: sessionTimeoutMs,
    // An idle fetch long-polls this long; stop() waits for it, so keep it short.
    maxWaitTimeInMs,
    allowAutoTopicCreation: false,
  })
}

/** How much the tasker may take on now, and a way to wait until that changes (see SendCapacity). */
export type Room = { room(): number; changed(ms: number): Promise<void> }

export type TaskConsumerDeps = {
  consumer: Consumer
  topics: Topics
  /** Connected by the caller; used for dead letters. */
  producer: Producer
  /**
   * Claims the tasks and starts sending them. Resolves once they are claimed, with one promise per id that settles
   * when that task's outcome is stored (at once for a task not claimed). A rejection of the call itself means
   * nothing was claimed: its messages are read again.
   */
  execute: (ids: TaskId[]) => Promise<Array<Promise<unknown>>>
  room: Room
  /** Called when kafkajs stops consuming for good; a live tasker that consumes nothing would hide the outage. */
  onGiveUp: (err: Error) => void
  log: Logger
  partitionsConsumedConcurrently: number
  /** Most messages claimed together. */
  chunkSize: number
}

type ConsumerState = {
  deps: TaskConsumerDeps
  progress: OffsetProgress
  /** Each settles once its task's outcome is stored (or given up on) and its offsets are marked done. */
  unsettled: Set<Promise<void>>
  stopping: boolean
  scheduleCommit: () => void
}

/**
 * Connects, subscribes and consumes until `stop()`. A message's offset is committed only once its task's outcome
 * is stored (or the task was not claimed), and never past an older message whose task is still running; tasks of
 * all partitions share the tasker's room, so one slow task holds up neither its partition nor others.
 */
export type RunningConsumer = {
  /** Takes no more tasks, lets those in flight be stored, commits them and leaves the group. */
  stop(): Promise<void>
  /** For a consumer kafkajs gave up on: stops its commits; its tasks in flight still end and are stored. */
  abandon(): void
}

export async function runTaskConsumer(deps: TaskConsumerDeps): Promise<RunningConsumer> {
  const { consumer, topics, log, room } = deps
  const progress = new OffsetProgress()
  let commitTimer: NodeJS.Timeout | undefined
  let committing: Promise<void> | undefined

  async function commitReady(): Promise<void> {
    commitTimer = undefined
    const points = progress.takeReady()
    if (points.length === 0) return
    try {
      await consumer.commitOffsets(points)
      progress.committed(points)
    } catch (err) {
      // Refused during a rebalance, say: the offsets stay ready and go with the next commit. Until then a crash
      // only means these messages are read again, and their claims send nothing.
      progress.restore(points)
      log.warn({ err, points }, 'offset commit failed, will retry')
      scheduleCommit(COMMIT_RETRY_MS)
    }
  }
  function scheduleCommit(delayMs = COMMIT_DELAY_MS) {
    if (commitTimer || state.stopping) return
    commitTimer = setTimeout(() => {
      committing = commitReady().finally(() => {
        committing = undefined
      })
    }, delayMs)
  }

  const state: ConsumerState = {
    deps,
    progress,
    unsettled: new Set(),
    stopping: false,
    scheduleCommit: () => scheduleCommit(),
  }
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log.error({ err: payload.error, restart: payload.restart }, 'task consumer crashed')
    // kafkajs restarts after most crashes; after the others it consumes nothing more, so say so to the owner.
    if (!payload.restart) deps.onGiveUp(payload.error)
  })
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // Partitions that moved to another member are its to commit now; ours may have offsets waiting.
    progress.retain(payload.memberAssignment)
    scheduleCommit()
  })
  await consumer.connect()
  // A new group starts at the earliest offset: tasks published before the group first existed must still run.
  await consumer.subscribe({ topics: [topics.tasks], fromBeginning: true })
  let active = 0
  await consumer.run({
    // Nothing is committed behind our back: the only commits are those of stored outcomes, above.
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: deps.partitionsConsumedConcurrently,
    eachBatch: async (payload) => {
      active++
      try {
        await consumeBatch(state, payload)
      } finally {
        active--
      }
    },
  })
  return {
    async stop() {
      // Takes no more messages, lets the tasks in flight finish and be stored, commits them, then leaves the group
      // (a commit after leaving would be refused). The caller's deadline covers sends that take too long.
      state.stopping = true
      clearTimeout(commitTimer)
      commitTimer = undefined
      consumer.pause([{ topic: topics.tasks }])
      while (active > 0) await room.changed(ROOM_WAIT_MS)
      await Promise.all(state.unsettled)
      await committing
      await commitReady()
      await consumer.disconnect()
    },
    abandon() {
      state.stopping = true
      clearTimeout(commitTimer)
      commitTimer = undefined
    },
  }
}

async function consumeBatch(state: ConsumerState, payload: EachBatchPayload): Promise<void> {
  const { deps, progress } = state
  const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload
  const { topic, partition } = batch
  const first = batch.messages[0]
  if (first && progress.rewound(topic, partition, first.offset)) {
    // Offsets below any this member could be sent again: the partition started over (a recreated topic, a broker
    // that lost what it had not flushed). These are new messages, however familiar their offsets.
    deps.log.warn({ topic, partition, offset: first.offset }, 'partition offsets went back, reading them as new')
    progress.forget(topic, partition)
  }
  // A redelivery (after a rebalance kept this partition here) of messages this member still follows: skip them.
  const messages = batch.messages.filter((m) => !progress.follows(topic, partition, m.offset))
  const skipped = batch.messages.length - messages.length
  if (skipped > 0) resolveOffset(batch.messages[skipped - 1]!.offset)
  const minClaim = Math.max(1, Math.floor(deps.chunkSize / 16))
  let start = 0
  while (start < messages.length) {
    // Messages left unresolved are fetched again: by this member once it runs again, or by the partition's next one.
    const running = () => isRunning() && !isStale() && !state.stopping
    if (!running()) return
    // Claim only what can be sent at once: a claimed task's lease runs from its claim, not from its send; and
    // nothing while outcomes wait to be stored beyond their bound.
    const wanted = Math.min(messages.length - start, deps.chunkSize)
    while (deps.room.room() === 0) {
      await deps.room.changed(ROOM_WAIT_MS)
      if (!running()) return
      await heartbeat()
    }
    // A little room is worth a moment's wait for more, so claims go in chunks rather than one by one; a moment
    // only, since room that belongs to tasks waiting for their key may not grow for a long while.
    if (deps.room.room() < Math.min(wanted, minClaim)) await deps.room.changed(GATHER_MS)
    const take = Math.min(wanted, deps.room.room())
    if (take === 0) continue // another partition's claim took the room meanwhile
    const chunk = messages.slice(start, start + take)
    start += chunk.length

    const decoded = chunk.map((m) => ({ message: m, ...decodeTaskMessage(m.value) }))
    const deadLetters = decoded.flatMap((d) => (d.ok ? [] : [{ message: d.message, reason: d.reason }]))
    const ids = [...new Set(decoded.flatMap((d) => (d.ok ? [d.taskId] : [])))]
    let runs: Array<Promise<unknown>> = []
    try {
      if (deadLetters.length > 0) await publishDeadLetters(deps, topic, partition, deadLetters)
      if (ids.length > 0) runs = await deps.execute(ids)
    } catch (err) {
      // Nothing was claimed: kafkajs fetches these messages again after its retry backoff (or the next owner
      // does). A dead letter may then be published twice; that is the at-least-once price.
      deps.log.error({ err, topic, partition, taskIds: ids }, 'tasks not claimed, messages will be redelivered')
      throw err
    }

    const tracked = progress.track(
      topic,
      partition,
      chunk.map((m) => m.offset),
    )
    const finished = (offsets: string[]) => {
      for (const offset of offsets) tracked.done(offset)
      state.scheduleCommit()
    }
    finished(deadLetters.map((d) => d.message.offset))
    const offsetsOf = new Map<TaskId, string[]>(ids.map((id) => [id, []]))
    for (const d of decoded) if (d.ok) offsetsOf.get(d.taskId)!.push(d.message.offset)
    ids.forEach((taskId, i) => {
      const settled = runs[i]!.then(
        () => {},
        // Its outcome was not stored: the task stays leased in Postgres and comes back when the lease runs out,
        // so passing its offset loses nothing.
        (err: unknown) => deps.log.error({ err, taskId }, 'outcome not stored, task left to its lease'),
      ).then(() => {
        finished(offsetsOf.get(taskId)!)
        state.unsettled.delete(settled)
      })
      state.unsettled.add(settled)
    })
    // The fetch position moves on; the commit point follows the stored outcomes.
    resolveOffset(chunk.at(-1)!.offset)
    await heartbeat()
  }
}

async function publishDeadLetters(
  deps: TaskConsumerDeps,
  topic: string,
  partition: number,
  deadLetters: Array<{ message: KafkaMessage; reason: string }>,
) {
  await deps.producer.send({
    topic: deps.topics.deadLetters,
    acks: ACKS_ALL,
    messages: deadLetters.map(({ message, reason }) => ({
      key: message.key,
      value: JSON.stringify(unreadableLetterOf(message, reason, { topic, partition, offset: message.offset })),
    })),
  })
  deps.log.warn(
    { topic, partition, offsets: deadLetters.map((d) => d.message.offset), reasons: deadLetters.map((d) => d.reason) },
    'messages dead-lettered',
  )
}
