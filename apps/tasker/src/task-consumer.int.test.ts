import { makeTaskExecutor, type OutboxEntry, SendCapacity } from '@request-tasker/application'
import {
  InMemoryStore,
  okResponse,
  retryDefaults,
  roomyFlow,
  ScriptedSender,
} from '@request-tasker/application/testing'
import {
  createTask,
  DEFAULT_RETRY_ON,
  type OutboundRequest,
  type SendOutcome,
  type TaskId,
} from '@request-tasker/domain'
import {
  ACKS_ALL,
  createLogger,
  createProducer,
  ensureTopics,
  kafkaQueuePublisher,
} from '@request-tasker/infrastructure'
import { createTestTopics, type TestTopics } from '@request-tasker/infrastructure/testing'
import type { Consumer, Producer } from 'kafkajs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTaskConsumer, type RunningConsumer, runTaskConsumer } from './task-consumer.js'

type Limits = ConstructorParameters<typeof SendCapacity>[0]
const ROOMY: Limits = { slots: 100, slotsPerKey: 100, unstored: 100, unstoredBytes: 1 << 30 }

/**
 * The consumer with the real task executor over the in-memory store: Kafka is real, the store and the third
 * party are fakes a test can hold up (`send` decides each task's outcome, and when; `storing` when outcomes land).
 */
function world(send: (request: OutboundRequest) => SendOutcome | Promise<SendOutcome> = () => okResponse()) {
  const store = new InMemoryStore()
  let seq = 0
  const add = async () => {
    const id = `00000000-0000-7000-8000-${String(++seq).padStart(12, '0')}` as TaskId
    const request = { method: 'GET' as const, url: `https://x.test/${id}`, headers: [], body: null, timeoutMs: 60_000 }
    await store.add([
      createTask({
        id,
        ownerKeyId: 'k',
        request,
        retry: { ...retryDefaults, retryOn: DEFAULT_RETRY_ON },
        now: new Date(),
      }),
    ])
    return id
  }
  const claims: TaskId[][] = []
  const claim = store.claim.bind(store)
  store.claim = async (ids, lease, room) => {
    claims.push([...ids])
    return claim(ids, lease, room)
  }
  let storing: Promise<unknown> = Promise.resolve()
  const recordAttempts = store.recordAttempts.bind(store)
  store.recordAttempts = async (results) => {
    await storing
    return recordAttempts(results)
  }
  return {
    store,
    add,
    claims,
    /** Holds every write of an outcome until `until` settles. */
    holdWrites(until: Promise<unknown>) {
      storing = until
    },
    executorWith(limits: Partial<Limits> = {}) {
      const capacity = new SendCapacity({ ...ROOMY, ...limits })
      const executor = makeTaskExecutor({
        tasks: store,
        sender: new ScriptedSender(send),
        capacity,
        now: () => new Date(),
        random: () => 0.5,
        leaseGraceMs: 10_000,
        keyBusyWaitMs: 10_000,
        flow: roomyFlow,
        isUnavailable: () => false,
        warn: () => {},
      })
      return { capacity, executor }
    },
  }
}

describe('runTaskConsumer', () => {
  let t: TestTopics
  let producer: Producer
  const running: RunningConsumer[] = []
  const gaveUp: Error[] = []
  const rawConsumers: Consumer[] = []

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

  function start(
    groupId: string,
    w: ReturnType<typeof world>,
    { chunkSize = 4, limits = {} }: { chunkSize?: number; limits?: Partial<Limits> } = {},
  ) {
    const { capacity, executor } = w.executorWith(limits)
    return runTaskConsumer({
      consumer: createTaskConsumer(t.kafka, { groupId, maxWaitTimeInMs: 200 }),
      topics: t.topics,
      producer,
      execute: (ids) => executor.execute(ids),
      room: capacity,
      onGiveUp: (err) => gaveUp.push(err),
      log: createLogger('test', 'silent'),
      partitionsConsumedConcurrently: 3,
      chunkSize,
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
  const messagesOf = (ids: TaskId[]) => ids.map((taskId) => JSON.stringify({ taskId }))

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

  it('hands every published task id to the executor, in chunks of at most chunkSize', async () => {
    const w = world()
    const ids = await Promise.all(Array.from({ length: 1000 }, w.add))
    const entries: OutboxEntry[] = ids.map((taskId, i) => ({ id: String(i), kind: 'task.requested', taskId }))
    await kafkaQueuePublisher(producer, t.topics).publish(entries)

    await start(t.groupId(), w, { chunkSize: 100 })

    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(1000)
    expect(w.claims.flat().sort()).toEqual([...ids].sort())
    expect(Math.max(...w.claims.map((c) => c.length))).toBeLessThanOrEqual(100)
    await expect
      .poll(async () =>
        (await Promise.all(ids.map((id) => w.store.findOwned(id, 'k')))).every((v) => v?.task.status === 'done'),
      )
      .toBe(true)
  })

  it('dead-letters unparsable messages with the reason and goes on with the rest of the partition', async () => {
    const w = world()
    const [first, last] = [await w.add(), await w.add()]
    await produceToPartition0([
      JSON.stringify({ taskId: first }),
      'not json',
      JSON.stringify({ taskId: 'nope' }),
      Buffer.from([0xff, 0xfe]),
      JSON.stringify({ taskId: last }),
    ])
    const groupId = t.groupId()
    await start(groupId, w, { chunkSize: 10 })

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
    await expect.poll(() => w.claims.flat()).toEqual([first, last])
    const source = (offset: string) => ({ topic: t.topics.tasks, partition: 0, offset })
    // Keyed like the originals, the dead letters spread over partitions: order them by their source offset.
    deadLetters.sort((a, b) => a.key!.localeCompare(b.key!))
    expect(deadLetters).toEqual([
      {
        key: 'k1',
        value: {
          version: 1,
          reason: 'unreadable',
          detail: expect.stringMatching(/^value is not JSON: /),
          source: source('1'),
          key: { encoding: 'utf8', data: 'k1' },
          value: { encoding: 'utf8', data: 'not json' },
        },
      },
      {
        key: 'k2',
        value: {
          version: 1,
          reason: 'unreadable',
          detail: 'taskId: must be a UUID',
          source: source('2'),
          key: { encoding: 'utf8', data: 'k2' },
          value: { encoding: 'utf8', data: '{"taskId":"nope"}' },
        },
      },
      {
        key: 'k3',
        value: {
          version: 1,
          reason: 'unreadable',
          detail: expect.stringMatching(/^value is not JSON: /),
          source: source('3'),
          key: { encoding: 'utf8', data: 'k3' },
          value: { encoding: 'base64', data: '//4=' },
        },
      },
    ])
    await expect.poll(() => committedOffset(groupId, 0)).toBe('5')
  })

  it('commits only past stored outcomes: a task still running holds the commit point, not the tasks after it', async () => {
    const slow = gate<SendOutcome>()
    let slowUrl = ''
    const w = world((request) => (request.url === slowUrl ? slow.promise : okResponse()))
    const ids = await Promise.all(Array.from({ length: 10 }, w.add))
    slowUrl = `https://x.test/${ids[1]}`
    await produceToPartition0(messagesOf(ids))
    const groupId = t.groupId()
    await start(groupId, w)

    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(10)
    await expect.poll(() => committedOffset(groupId, 0)).toBe('1')
    await sleep(500)
    expect(await committedOffset(groupId, 0)).toBe('1')

    slow.open(okResponse())
    await expect.poll(() => committedOffset(groupId, 0)).toBe('10')
  })

  it('sends no more than its slots at a time, and a silent send holds only its own slot', async () => {
    const silent = gate<SendOutcome>()
    const storing = gate<void>() // no outcome is stored until the end: a slot is free again once its send ended
    let silentUrl = ''
    let sending = 0
    let most = 0
    const w = world(async (request) => {
      sending++
      most = Math.max(most, sending)
      try {
        if (request.url === silentUrl) return await silent.promise
        await sleep(20)
        return okResponse()
      } finally {
        sending--
      }
    })
    const ids = await Promise.all(Array.from({ length: 12 }, w.add))
    silentUrl = `https://x.test/${ids[0]}`
    w.holdWrites(storing.promise)
    await produceToPartition0(messagesOf(ids))
    const groupId = t.groupId()
    await start(groupId, w, { chunkSize: 4, limits: { slots: 3 } })

    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(12)
    expect(most).toBe(3)
    await expect.poll(() => sending).toBe(1)
    expect(await committedOffset(groupId, 0)).toBe('-1') // nothing is committed before its outcome is stored

    storing.open()
    await sleep(300)
    expect(await committedOffset(groupId, 0)).toBe('-1') // nor past the silent task
    silent.open(okResponse())
    await expect.poll(() => committedOffset(groupId, 0)).toBe('12')
  })

  it('claims nothing more while the outcomes waiting to be stored fill their buffer', async () => {
    const storing = gate<void>()
    const w = world()
    const ids = await Promise.all(Array.from({ length: 12 }, w.add))
    w.holdWrites(storing.promise)
    await produceToPartition0(messagesOf(ids))
    const groupId = t.groupId()
    await start(groupId, w, { chunkSize: 2, limits: { slots: 10, unstored: 4 } })

    // 1. Four tasks sent, their outcomes waiting: the buffer is full, so the other eight stay unclaimed.
    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(4)
    await sleep(500)
    expect(w.claims.flat()).toEqual(ids.slice(0, 4))
    // 2. The writes go through: claims resume, and every task ends done.
    storing.open()
    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(12)
    await expect.poll(() => committedOffset(groupId, 0)).toBe('12')
  })

  it('reads again the messages whose tasks could not be claimed, from this member or the next', async () => {
    const w = world()
    const ids = await Promise.all(Array.from({ length: 10 }, w.add))
    await produceToPartition0(messagesOf(ids))
    const groupId = t.groupId()
    let failing = true
    const claim = w.store.claim.bind(w.store) // records every call in w.claims
    w.store.claim = async (chunk, lease, room) => {
      if (failing && w.claims.length > 0) {
        w.claims.push([...chunk])
        throw new Error('database unavailable') // recorded, then refused: nothing claimed
      }
      return claim(chunk, lease, room)
    }

    // 1. The first consumer claims offsets 0–3, then fails on 4–7 (kafkajs retries, failing again each time).
    const first = await start(groupId, w)
    await expect.poll(() => w.claims.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
    await first.stop()
    running.splice(running.indexOf(first), 1)
    expect(w.claims[0]).toEqual(ids.slice(0, 4))
    expect(w.claims.slice(1)).toEqual(w.claims.slice(1).map(() => ids.slice(4, 8)))
    expect(await committedOffset(groupId, 0)).toBe('4')

    // 2. A new member of the same group starts at the failed chunk: 4–9 again, and 0–3 never.
    failing = false
    w.claims.length = 0
    await start(groupId, w)
    await expect.poll(() => w.claims.flat().length, { timeout: 20_000 }).toBe(6)
    expect(w.claims).toEqual([ids.slice(4, 8), ids.slice(8, 10)])
    await expect.poll(() => committedOffset(groupId, 0)).toBe('10')
  })

  it('stops taking tasks, waits for those in flight to be stored, and commits them before leaving', async () => {
    const sending = gate<SendOutcome>()
    const w = world(() => sending.promise)
    const ids = await Promise.all(Array.from({ length: 8 }, w.add))
    await produceToPartition0(messagesOf(ids))
    const groupId = t.groupId()
    const consumer = await start(groupId, w, { chunkSize: 4, limits: { slots: 4 } })
    await expect.poll(() => w.claims.length, { timeout: 20_000 }).toBe(1)

    // Had stop() left the group before the outcomes were stored, its commit would fail and the offset stay unset.
    running.splice(running.indexOf(consumer), 1)
    const stopping = consumer.stop()
    await sleep(300)
    sending.open(okResponse())
    await stopping

    expect(w.claims).toEqual([ids.slice(0, 4)])
    expect(await committedOffset(groupId, 0)).toBe('4')
  })

  it('reads a partition that started over (its topic recreated) as new messages, not as redeliveries', async () => {
    const w = world()
    const before = await Promise.all(Array.from({ length: 6 }, w.add))
    await produceToPartition0(messagesOf(before))
    const groupId = t.groupId()
    await start(groupId, w)
    await expect.poll(() => committedOffset(groupId, 0), { timeout: 20_000 }).toBe('6')

    // 1. The topic is deleted and made again, as an operator recovering a cluster might: its offsets restart at 0.
    const admin = t.kafka.admin()
    await admin.connect()
    try {
      await admin.deleteTopics({ topics: [t.topics.tasks] })
      await expect.poll(async () => (await admin.listTopics()).includes(t.topics.tasks)).toBe(false)
    } finally {
      await admin.disconnect()
    }
    await ensureTopics(t.kafka, t.topics, { partitions: 3, replicationFactor: 1 })

    // 2. Three new tasks land at offsets 0–2, below the 6 this member committed: each is claimed and sent.
    const after = await Promise.all(Array.from({ length: 3 }, w.add))
    await produceToPartition0(messagesOf(after))
    await expect.poll(() => w.claims.flat().filter((id) => after.includes(id)), { timeout: 60_000 }).toEqual(after)
  })
})

function gate<T>() {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
