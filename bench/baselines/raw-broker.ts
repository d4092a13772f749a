import { randomUUID } from 'node:crypto'
import { Partitioners } from 'kafkajs'
import type { BenchContext } from '../support/context.ts'
import { benchKafka } from '../support/kafka.ts'

export type RawBrokerResult = {
  messages: number
  messageBytes: number
  batchSize: number
  produceRate: number
  consumeRate: number
}

const ACKS_ALL = -1

/**
 * B3: the broker ceiling — raw kafkajs with the tasker's settings: an idempotent producer (acks=all) sending
 * batches of RELAY_BATCH_SIZE one after another, as the relay does, then a consumer group reading them all back.
 * Messages are the tasker's: key = a task id, value = {"taskId": …}.
 */
export async function runRawBroker(ctx: BenchContext): Promise<RawBrokerResult> {
  const kafka = benchKafka(ctx.brokers, 'bench-b3')
  const topic = `bench.${ctx.runId}.b3.task.requested.v1`
  const count = ctx.sizes.rawMessages
  const batchSize = ctx.tasker.RELAY_BATCH_SIZE
  const messages = Array.from({ length: count }, () => {
    const taskId = randomUUID()
    return { key: taskId, value: JSON.stringify({ taskId }) }
  })

  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    topics: [{ topic, numPartitions: ctx.tasker.KAFKA_PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true,
  })
  await admin.disconnect()

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  let produceSeconds: number
  try {
    const started = performance.now()
    for (let i = 0; i < count; i += batchSize) {
      await producer.sendBatch({
        acks: ACKS_ALL,
        topicMessages: [{ topic, messages: messages.slice(i, i + batchSize) }],
      })
    }
    produceSeconds = (performance.now() - started) / 1000
  } finally {
    await producer.disconnect()
  }

  const consumer = kafka.consumer({ groupId: `bench.${ctx.runId}.b3`, maxWaitTimeInMs: 1_000 })
  let consumeSeconds: number
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    // The clock starts when the group is joined, as the tasker's drain clock starts once its group is stable.
    let joinedAt = 0
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joinedAt = performance.now()
    })
    let seen = 0
    consumeSeconds = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`consumed ${seen} of ${count} messages in 60 s`)), 60_000)
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error))
      consumer
        .run({
          partitionsConsumedConcurrently: ctx.tasker.PARTITIONS_CONSUMED_CONCURRENTLY,
          eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            seen += batch.messages.length
            resolveOffset(batch.lastOffset())
            await heartbeat()
            if (seen < count) return
            clearTimeout(timer)
            resolve((performance.now() - joinedAt) / 1000)
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }

  const first = messages[0]!
  return {
    messages: count,
    messageBytes: Buffer.byteLength(first.key) + Buffer.byteLength(first.value),
    batchSize,
    produceRate: count / produceSeconds,
    consumeRate: count / consumeSeconds,
  }
}
