import type { TaskId } from '@request-tasker/domain'
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs'
import type { Logger } from '../logger.js'
import { ACKS_ALL } from './clients.js'
import { decodeTaskMessage } from './task-message.js'
import type { Topics } from './topics.js'

/**
 * kafkajs heartbeats only from inside the consume loop (there is no background heartbeat thread), and a chunk
 * takes as long as its slowest send: up to the 60 s task timeout plus claiming and storing. So the broker must
 * wait longer than that before declaring a busy member dead (sessionTimeout), and a rebalance must wait as long
 * for a member to finish its chunk and rejoin (rebalanceTimeout); 90 s leaves 30 s for the database. A crashed
 * tasker's partitions therefore move after at most 90 s; its claimed tasks are the sweeper's, not Kafka's, concern.
 */
export const TASK_CONSUMER_TIMEOUTS = { sessionTimeout: 90_000, rebalanceTimeout: 90_000, heartbeatInterval: 3_000 }

export function createTaskConsumer(
  kafka: Kafka,
  {
    groupId,
    maxWaitTimeInMs = 1_000,
    sessionTimeoutMs = TASK_CONSUMER_TIMEOUTS.sessionTimeout,
  }: {
    groupId: string
    maxWaitTimeInMs?: number
    /**
     * How long a silent member keeps its partitions, and so how long a group with a crashed member stalls before
     * a rebalance completes. Lower it only where every task's timeout is well under it.
     */
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

export type TaskConsumerDeps = {
  consumer: Consumer
  topics: Topics
  /** Connected by the caller; used for dead letters. */
  producer: Producer
  /** Claims, sends and records the tasks; resolves only once their outcomes are stored. */
  handle: (ids: TaskId[]) => Promise<unknown>
  /** Called when kafkajs stops consuming for good; a live tasker that consumes nothing would hide the outage. */
  onGiveUp: (err: Error) => void
  log: Logger
  partitionsConsumedConcurrently: number
  /** Messages handed to one `handle` call; their offsets are committed together. */
  chunkSize: number
}

/** Connects, subscribes and consumes until `stop()`, which finishes the chunk in flight and leaves the group. */
export async function runTaskConsumer(deps: TaskConsumerDeps): Promise<{ stop(): Promise<void> }> {
  const { consumer, topics, log } = deps
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log.error({ err: payload.error, restart: payload.restart }, 'task consumer crashed')
    // kafkajs restarts after most crashes; after the others it consumes nothing more, so say so to the owner.
    if (!payload.restart) deps.onGiveUp(payload.error)
  })
  await consumer.connect()
  // A new group starts at the earliest offset: tasks published before the group first existed must still run.
  await consumer.subscribe({ topics: [topics.tasks], fromBeginning: true })
  await consumer.run({
    // Nothing is committed behind our back: the only commit is the one below, after `handle`.
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: deps.partitionsConsumedConcurrently,
    eachBatch: (payload) => consumeBatch(deps, payload),
  })
  return {
    async stop() {
      // Stops fetching, waits for every eachBatch to return (each ends after its current chunk), leaves the group.
      await consumer.disconnect()
    },
  }
}

async function consumeBatch(deps: TaskConsumerDeps, payload: EachBatchPayload): Promise<void> {
  const { batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale } = payload
  const { topic, partition } = batch
  for (let start = 0; start < batch.messages.length; start += deps.chunkSize) {
    // Unhandled messages stay unresolved and uncommitted: the next owner of the partition reads them again.
    if (!isRunning() || isStale()) return
    const chunk = batch.messages.slice(start, start + deps.chunkSize)

    const ids: TaskId[] = []
    const deadLetters: KafkaMessage[] = []
    const reasons: string[] = []
    for (const message of chunk) {
      const decoded = decodeTaskMessage(message.value)
      if (decoded.ok) ids.push(decoded.taskId)
      else {
        deadLetters.push(message)
        reasons.push(decoded.reason)
      }
    }
    if (deadLetters.length > 0) {
      await deps.producer.send({
        topic: deps.topics.deadLetters,
        acks: ACKS_ALL,
        messages: deadLetters.map((m, i) => ({
          key: m.key,
          value: JSON.stringify(deadLetterOf(m, reasons[i]!, topic, partition)),
        })),
      })
      deps.log.warn({ topic, partition, offsets: deadLetters.map((m) => m.offset), reasons }, 'messages dead-lettered')
    }

    if (ids.length > 0) {
      try {
        await deps.handle([...new Set(ids)])
      } catch (err) {
        // Not resolved, not committed: kafkajs fetches this chunk again (from this consumer after its retry
        // backoff, or from the next owner after a rebalance). The claim in `handle` makes a resend a no-op for
        // tasks that did finish. A dead letter above may then be published twice; that is the at-least-once price.
        deps.log.error({ err, topic, partition, taskIds: ids }, 'tasks not handled, messages will be redelivered')
        throw err
      }
    }

    // Only now, with every outcome stored, may the chunk count as consumed. Committing any earlier would lose the
    // tasks of a chunk whose tasker dies mid-send. A commit refused by a rebalance throws: the chunk is redelivered.
    const last = chunk.at(-1)!.offset
    resolveOffset(last)
    await commitOffsetsIfNecessary({
      topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }],
    })
    await heartbeat()
  }
}

function deadLetterOf(message: KafkaMessage, reason: string, topic: string, partition: number) {
  return {
    reason,
    source: { topic, partition, offset: message.offset },
    key: message.key === null ? null : asText(message.key),
    value: message.value === null ? null : asText(message.value),
  }
}

// UTF-8 text stays readable in the dead-letter topic; anything else is kept exactly as base64.
function asText(bytes: Buffer): { encoding: 'utf8' | 'base64'; data: string } {
  try {
    return { encoding: 'utf8', data: new TextDecoder('utf-8', { fatal: true }).decode(bytes) }
  } catch {
    return { encoding: 'base64', data: bytes.toString('base64') }
  }
}
