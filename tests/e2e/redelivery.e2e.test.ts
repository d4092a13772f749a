import { ACKS_ALL, createProducer } from '@request-tasker/infrastructure'
import type { KafkaMessage, RecordMetadata } from 'kafkajs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import type { TargetServer } from '../support/target-server.js'
import type { TaskApi } from '../support/task-api.js'

// Kafka delivers at least once, so the tasker must meet the same message twice without sending twice: the claim's
// status guard makes a redelivered task id a no-op. A message it cannot read goes to the dead-letter topic.
const e2e = useE2e('redelivery')
let api: TaskApi
let target: TargetServer
const deadLetters: KafkaMessage[] = []
const stopReading: Array<() => Promise<void>> = []

beforeAll(async () => {
  target = await e2e.startTarget()
  api = e2e.api(await e2e.startServer())
  await e2e.startTasker()
  const reader = e2e.kafka.kafka.consumer({ groupId: e2e.kafka.groupId('dead-letter-reader') })
  await reader.connect()
  await reader.subscribe({ topics: [e2e.kafka.topics.deadLetters], fromBeginning: true })
  await reader.run({ eachMessage: async ({ message }) => void deadLetters.push(message) })
  stopReading.push(() => reader.disconnect())
})
afterAll(async () => {
  await Promise.all(stopReading.map((stop) => stop()))
})

/** Produces straight to the tasks topic, as a redelivery or a stray producer would. */
async function produce(key: string, value: string): Promise<RecordMetadata> {
  const producer = createProducer(e2e.kafka.kafka)
  await producer.connect()
  try {
    const [sent] = await producer.send({ topic: e2e.kafka.topics.tasks, acks: ACKS_ALL, messages: [{ key, value }] })
    return sent!
  } finally {
    await producer.disconnect()
  }
}

/** The next offset the tasker's group will read in `partition`: past a message means that message was handled. */
async function committedOffset(partition: number): Promise<number> {
  const admin = e2e.kafka.kafka.admin()
  await admin.connect()
  try {
    const [topic] = await admin.fetchOffsets({ groupId: e2e.groupId, topics: [e2e.kafka.topics.tasks] })
    return Number(topic!.partitions.find((p) => p.partition === partition)!.offset)
  } finally {
    await admin.disconnect()
  }
}

it('sends a done task no second time when its message arrives again', async () => {
  const { id } = await api.submit({ method: 'POST', url: `${target.url}/once`, body: 'only once' })
  const done = await api.waitUntilFinished(id!)
  expect(done).toMatchObject({ status: 'done', attemptCount: 1 })

  const duplicate = await produce(id!, JSON.stringify({ taskId: id }))
  await expect
    .poll(() => committedOffset(duplicate.partition), { timeout: 30_000, interval: 100 })
    .toBeGreaterThan(Number(duplicate.baseOffset))

  expect(target.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /once'])
  expect((await api.get(id!)).json).toEqual(done)
})

it('moves an unreadable message to the dead-letter topic and reads on past it', async () => {
  const garbage = await produce('garbage-key', 'not json {')
  await expect
    .poll(() => committedOffset(garbage.partition), { timeout: 30_000, interval: 100 })
    .toBeGreaterThan(Number(garbage.baseOffset))

  await expect.poll(() => deadLetters.length, { timeout: 30_000 }).toBe(1)
  const [letter] = deadLetters
  expect(letter!.key?.toString()).toBe('garbage-key')
  expect(JSON.parse(letter!.value!.toString())).toEqual({
    version: 1,
    reason: 'unreadable',
    detail: expect.stringMatching(/^value is not JSON: /),
    source: { topic: e2e.kafka.topics.tasks, partition: garbage.partition, offset: garbage.baseOffset },
    key: { encoding: 'utf8', data: 'garbage-key' },
    value: { encoding: 'utf8', data: 'not json {' },
  })

  // The tasker carries on: a task submitted after the garbage is sent as usual.
  const { id } = await api.submit({ method: 'GET', url: `${target.url}/after-garbage` })
  expect(await api.waitUntilFinished(id!)).toMatchObject({ status: 'done', httpStatusCode: 200 })
})
