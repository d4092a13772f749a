import type { OutboxEntry, QueuePublisher } from '@request-tasker/application'
import type { Producer } from 'kafkajs'
import { ACKS_ALL } from './clients.js'
import { encodeTaskMessage } from './task-message.js'
import type { Topics } from './topics.js'

/** Publishes a drained outbox batch; the producer must be connected by the caller, who also disconnects it. */
export function kafkaQueuePublisher(producer: Producer, topics: Topics): QueuePublisher {
  return {
    async publish(entries: readonly OutboxEntry[]) {
      if (entries.length === 0) return
      // One sendBatch for the whole drain: one produce request per broker instead of one per task. It resolves
      // only after acks=all, and only then does the outbox delete its rows.
      // Keyed by task id: every message of one task lands on one partition, in order.
      const requested = entries.filter((e) => e.kind === 'task.requested')
      const deadLettered = entries.filter((e) => e.kind === 'task.dead-lettered')
      await producer.sendBatch({
        acks: ACKS_ALL,
        topicMessages: [
          {
            topic: topics.tasks,
            messages: requested.map((e) => ({ key: e.taskId, value: encodeTaskMessage(e.taskId) })),
          },
          {
            topic: topics.deadLetters,
            messages: deadLettered.map((e) => ({ key: e.taskId, value: JSON.stringify(e.payload) })),
          },
        ].filter((t) => t.messages.length > 0),
      })
    },
  }
}
