import type { DeadLetter, OutboxEntry } from '@request-tasker/application'
import { sequentialIds } from '@request-tasker/application/testing'
import type { Consumer, Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestTopics, TEST_PARTITIONS, type TestTopics } from '../../testing/test-kafka.js'
import { createProducer } from './clients.js'
import { kafkaQueuePublisher } from './kafka-queue-publisher.js'

describe('kafkaQueuePublisher', () => {
  let t: TestTopics
  let producer: Producer
  let consumer: Consumer

  beforeAll(async () => {
    t = await createTestTopics('publisher')
    producer = createProducer(t.kafka)
    await producer.connect()
    consumer = t.kafka.consumer({ groupId: t.groupId(), maxWaitTimeInMs: 200 })
  })
  afterAll(async () => {
    await consumer?.disconnect()
    await producer?.disconnect()
    await t?.cleanup()
  })

  it('publishes 1,000 entries in one produce request, keyed by task id with a {taskId} value', async () => {
    const newId = sequentialIds()
    const entries: OutboxEntry[] = Array.from({ length: 1000 }, (_, i) => ({
      id: String(i + 1),
      kind: 'task.requested',
      taskId: newId(),
    }))
    const produceRequests: number[] = []
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'Produce') produceRequests.push(payload.size)
    })

    await kafkaQueuePublisher(producer, t.topics).publish(entries)
    // One broker in tests, so one sendBatch is exactly one Produce request.
    expect(produceRequests).toHaveLength(1)

    const received: Array<{ key: string; value: string; partition: number }> = []
    await consumer.connect()
    await consumer.subscribe({ topics: [t.topics.tasks], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        received.push({ key: message.key!.toString(), value: message.value!.toString(), partition })
      },
    })
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(1000)

    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key)
    expect(received.map(({ key, value }) => ({ key, value })).sort(byKey)).toEqual(
      entries.map((e) => ({ key: e.taskId, value: `{"taskId":"${e.taskId}"}` })).sort(byKey),
    )
    // Keyed messages spread over the partitions instead of piling onto one.
    expect(new Set(received.map((r) => r.partition)).size).toBe(TEST_PARTITIONS)
  })

  it('sends dead-lettered entries to the dead-letter topic with their payload, the rest to the tasks topic', async () => {
    const newId = sequentialIds()
    const [sent, gaveUp] = [newId(), newId()]
    const payload: DeadLetter = {
      version: 1,
      reason: 'gave-up',
      taskId: gaveUp,
      attemptCount: 2,
      lastAttempt: { n: 2, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 5, httpStatusCode: 503 },
    }
    const received: Array<{ topic: string; key: string; value: unknown }> = []
    const reader = t.kafka.consumer({ groupId: t.groupId(), maxWaitTimeInMs: 200 })
    await reader.connect()
    try {
      await reader.subscribe({ topics: [t.topics.deadLetters], fromBeginning: true })
      await reader.run({
        eachMessage: async ({ topic, message }) => {
          received.push({ topic, key: message.key!.toString(), value: JSON.parse(message.value!.toString()) })
        },
      })

      await kafkaQueuePublisher(producer, t.topics).publish([
        { id: '1', kind: 'task.requested', taskId: sent },
        { id: '2', kind: 'task.dead-lettered', taskId: gaveUp, payload },
      ])

      await expect
        .poll(() => received, { timeout: 20_000 })
        .toEqual([{ topic: t.topics.deadLetters, key: gaveUp, value: payload }])
    } finally {
      await reader.disconnect()
    }
  })
})
