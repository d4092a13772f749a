import type { OutboxEntry } from '@request-tasker/application'
import { sequentialIds } from '@request-tasker/application/testing'
import type { TaskId } from '@request-tasker/domain'
import type { Consumer, Producer } from 'kafkajs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../logger.js'
import { createTestTopics, type TestTopics } from '../testing/test-kafka.js'
import { ACKS_ALL, createProducer } from './clients.js'
import { kafkaQueuePublisher } from './kafka-queue-publisher.js'
import { createTaskConsumer, runTaskConsumer } from './task-consumer.js'

type Running = { stop(): Promise<void> }

describe('runTaskConsumer', () => {
  let t: TestTopics
  let producer: Producer
  const running: Running[] = []
  const gaveUp: Error[] = []
  const rawConsumers: Consumer[] = []
  const newId = sequentialIds()

  beforeEach(async (ctx) => {
    t = await createTestTopics(ctx.task.name.split(' ').slice(0, 3).join('-'))
    producer = createProducer(t.kafka)
    await producer.connect()
  })
  afterEach(async () => {
    expect(gaveUp.splice(0)).toEqual([]) // a consumer that stopped for good would pass silently otherwise
    await Promise.all(running.splice(0).map((c) => c.stop()))
    await Promise.all(rawConsumers.splice(0).map((c) => c.disconnect()))
    await producer.disconnect()
    await t.cleanup()
  })

  type Run = { sent: Promise<unknown>; stored: Promise<unknown> }
  type Handle = (ids: TaskId[]) => Promise<Run[]>
  const done = (): Run => ({ sent: Promise.resolve(), stored: Promise.resolve() })
  /** A handle whose every task is sent and stored at once. */
  const storedAtOnce =
    (seen: (ids: TaskId[]) => unknown): Handle =>
    async (ids) => {
      seen(ids)
      return ids.map(done)
    }

  function start(groupId: string, handle: Handle, { chunkSize = 4, maxInFlight = 100 } = {}) {
    return runTaskConsumer({
      consumer: createTaskConsumer(t.kafka, { groupId, maxWaitTimeInMs: 200 }),
      topics: t.topics,
      producer,
      handle,
      onGiveUp: (err) => gaveUp.push(err),
      log: createLogger('test', 'silent'),
      partitionsConsumedConcurrently: 3,
      chunkSize,
      maxInFlight,
    }).then((c) => {
      running.push(c)
      return c
    })
  }

  /** Everything in one partition, so the chunk boundaries are known: offsets 0–3, 4–7, … */
  async function produceToPartition0(values: Array<string | Buffer>) {
    await producer.send({
      topic: t.topics.tasks,
      acks: ACKS_ALL,
      messages: values.map((value, i) => ({ partition: 0, key: `k${i}`, value })),
    })
  }

  async function committedOffset(groupId: string, partition: number) {
    const admin = t.kafka.admin()
    await admin.connect()
    try {
      const [topic] = await admin.fetchOffsets({ groupId, topics: [t.topics.tasks] })
      return topic!.partitions.find((p) => p.partition === partition)!.offset
    } finally {
      await admin.disconnect()
    }
  }

  it('hands every published task id to handle, in chunks of at most chunkSize', async () => {
    const entries: OutboxEntry[] = Array.from({ length: 1000 }, (_, i) => ({
      id: String(i),
      kind: 'task.requested',
      taskId: newId(),
    }))
    await kafkaQueuePublisher(producer, t.topics).publish(entries)

    const calls: TaskId[][] = []
    await start(
      t.groupId(),
      storedAtOnce((ids) => calls.push(ids)),
      { chunkSize: 100 },
    )

    await expect.poll(() => calls.flat().length, { timeout: 20_000 }).toBe(1000)
    expect(calls.flat().sort()).toEqual(entries.map((e) => e.taskId).sort())
    expect(Math.max(...calls.map((c) => c.length))).toBeLessThanOrEqual(100)
  })

  it('dead-letters unparsable messages with the reason and goes on with the rest of the partition', async () => {
    const [first, last] = [newId(), newId()]
    await produceToPartition0([
      JSON.stringify({ taskId: first }),
      'not json',
      JSON.stringify({ taskId: 'nope' }),
      Buffer.from([0xff, 0xfe]),
      JSON.stringify({ taskId: last }),
    ])
    const handled: TaskId[] = []
    const groupId = t.groupId()
    await start(
      groupId,
      storedAtOnce((ids) => handled.push(...ids)),
      { chunkSize: 10 },
    )

    const deadLetters: Array<{ key: string | undefined; value: unknown }> = []
    const reader = t.kafka.consumer({ groupId: t.groupId('reader'), maxWaitTimeInMs: 200 })
    rawConsumers.push(reader)
    await reader.connect()
    await reader.subscribe({ topics: [t.topics.deadLetters], fromBeginning: true })
    await reader.run({
      eachMessage: async ({ message }) => {
        deadLetters.push({ key: message.key?.toString(), value: JSON.parse(message.value!.toString()) })
      },
    })

    await expect.poll(() => deadLetters.length, { timeout: 20_000 }).toBe(3)
    await expect.poll(() => handled).toEqual([first, last])
    const source = (offset: string) => ({ topic: t.topics.tasks, partition: 0, offset })
    // Keyed like the originals, the dead letters spread over partitions: order them by their source offset.
    deadLetters.sort((a, b) => a.key!.localeCompare(b.key!))
    expect(deadLetters).toEqual([
      {
        key: 'k1',
        value: {
          reason: expect.stringMatching(/^value is not JSON: /),
          source: source('1'),
          key: { encoding: 'utf8', data: 'k1' },
          value: { encoding: 'utf8', data: 'not json' },
        },
      },
      {
        key: 'k2',
        value: {
          reason: 'taskId: must be a UUID',
          source: source('2'),
          key: { encoding: 'utf8', data: 'k2' },
          value: { encoding: 'utf8', data: '{"taskId":"nope"}' },
        },
      },
      {
        key: 'k3',
        value: {
          reason: expect.stringMatching(/^value is not JSON: /),
          source: source('3'),
          key: { encoding: 'utf8', data: 'k3' },
          value: { encoding: 'base64', data: '//4=' },
        },
      },
    ])
    await expect.poll(() => committedOffset(groupId, 0)).toBe('5')
  })

  it('commits only past stored outcomes: a task still running holds the commit point, not the tasks after it', async () => {
    const ids = Array.from({ length: 10 }, () => newId())
    await produceToPartition0(ids.map((taskId) => JSON.stringify({ taskId })))
    const groupId = t.groupId()
    const slow = gate()
    const handled: TaskId[] = []
    await start(groupId, async (chunk) => {
      handled.push(...chunk)
      return chunk.map((id) => (id === ids[1] ? { sent: slow.promise, stored: slow.promise } : done()))
    })

    await expect.poll(() => handled.length, { timeout: 20_000 }).toBe(10)
    await expect.poll(() => committedOffset(groupId, 0)).toBe('1')
    await sleep(500)
    expect(await committedOffset(groupId, 0)).toBe('1')

    slow.open()
    await expect.poll(() => committedOffset(groupId, 0)).toBe('10')
  })

  it('has no more than maxInFlight sends at a time, and a silent one holds only its own slot', async () => {
    const ids = Array.from({ length: 12 }, () => newId())
    await produceToPartition0(ids.map((taskId) => JSON.stringify({ taskId })))
    const groupId = t.groupId()
    const silent = gate()
    const storing = gate() // no outcome is stored until the end: a slot is free again once its send ended
    let sending = 0
    let most = 0
    const handled: TaskId[] = []
    await start(
      groupId,
      async (chunk) => {
        handled.push(...chunk)
        sending += chunk.length
        most = Math.max(most, sending)
        return chunk.map((id) => {
          const sent = (id === ids[0] ? silent.promise : sleep(20)).then(() => {
            sending--
          })
          return { sent, stored: Promise.all([sent, storing.promise]) }
        })
      },
      { chunkSize: 4, maxInFlight: 3 },
    )

    await expect.poll(() => handled.length, { timeout: 20_000 }).toBe(12)
    expect(most).toBe(3)
    await expect.poll(() => sending).toBe(1)
    expect(await committedOffset(groupId, 0)).toBe('-1') // nothing is committed before its outcome is stored

    storing.open()
    await sleep(300)
    expect(await committedOffset(groupId, 0)).toBe('-1') // nor past the silent task
    silent.open()
    await expect.poll(() => committedOffset(groupId, 0)).toBe('12')
  })

  it('reads again the messages whose tasks could not be claimed, from this member or the next', async () => {
    const ids = Array.from({ length: 10 }, () => newId())
    await produceToPartition0(ids.map((taskId) => JSON.stringify({ taskId })))
    const groupId = t.groupId()

    // 1. The first consumer claims offsets 0–3, then fails on 4–7 (kafkajs retries, failing again each time).
    const firstCalls: TaskId[][] = []
    const first = await start(groupId, async (chunk) => {
      firstCalls.push(chunk)
      if (firstCalls.length > 1) throw new Error('database unavailable')
      return chunk.map(done)
    })
    await expect.poll(() => firstCalls.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
    await first.stop()
    running.splice(running.indexOf(first), 1)
    expect(firstCalls[0]).toEqual(ids.slice(0, 4))
    expect(firstCalls.slice(1)).toEqual(firstCalls.slice(1).map(() => ids.slice(4, 8)))
    expect(await committedOffset(groupId, 0)).toBe('4')

    // 2. A new member of the same group starts at the failed chunk: 4–9 again, and 0–3 never.
    const secondCalls: TaskId[][] = []
    await start(
      groupId,
      storedAtOnce((chunk) => secondCalls.push(chunk)),
    )
    await expect.poll(() => secondCalls.flat().length, { timeout: 20_000 }).toBe(6)
    expect(secondCalls).toEqual([ids.slice(4, 8), ids.slice(8, 10)])
    await expect.poll(() => committedOffset(groupId, 0)).toBe('10')
  })

  it('stops taking tasks, waits for those in flight to be stored, and commits them before leaving', async () => {
    const ids = Array.from({ length: 8 }, () => newId())
    await produceToPartition0(ids.map((taskId) => JSON.stringify({ taskId })))
    const groupId = t.groupId()

    const sending = gate()
    const calls: TaskId[][] = []
    const consumer = await start(
      groupId,
      async (chunk) => {
        calls.push(chunk)
        return chunk.map(() => ({ sent: sending.promise, stored: sending.promise }))
      },
      { chunkSize: 4, maxInFlight: 4 },
    )
    await expect.poll(() => calls.length, { timeout: 20_000 }).toBe(1)

    // Had stop() left the group before the outcomes were stored, its commit would fail and the offset stay unset.
    running.splice(running.indexOf(consumer), 1)
    const stopping = consumer.stop()
    await sleep(300)
    sending.open()
    await stopping

    expect(calls).toEqual([ids.slice(0, 4)])
    expect(await committedOffset(groupId, 0)).toBe('4')
  })
})

function gate() {
  let open = () => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
