import type { SendOutcome, TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import {
  anyTarget,
  InMemoryStore,
  manualClock,
  okResponse,
  RecordingPublisher,
  retryDefaults,
  roomyFlow,
  ScriptedSender,
  sequentialIds,
} from '../testing/index.js'
import { makeTaskExecutor, type TaskExecutor } from './execute-tasks.js'
import { makeExpireLeases } from './expire-leases.js'
import { makePromoteDue } from './promote-due.js'
import { makePublishPending } from './publish-pending.js'
import { SendCapacity } from './send-capacity.js'
import { makeSubmitTask } from './submit-task.js'

const timeout: SendOutcome = {
  kind: 'failure',
  error: { code: 'timeout', message: 'no answer in 1000 ms' },
  durationMs: 1000,
}

type Limits = ConstructorParameters<typeof SendCapacity>[0]
const ROOMY: Limits = { slots: 100, slotsPerKey: 100, unstored: 100, unstoredBytes: 1 << 30 }

function setup(respond?: ConstructorParameters<typeof ScriptedSender>[0], limits: Partial<Limits> = {}) {
  const clock = manualClock()
  const store = new InMemoryStore(clock.now)
  const sender = new ScriptedSender(respond)
  const capacity = new SendCapacity({ ...ROOMY, ...limits })
  const warnings: string[] = []
  const submit = makeSubmitTask({
    tasks: store,
    targets: anyTarget,
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 1000,
    defaultRetry: retryDefaults,
    wakeRelay: () => {},
  })
  const executor: TaskExecutor = makeTaskExecutor({
    tasks: store,
    sender,
    capacity,
    now: clock.now,
    random: () => 0.5,
    leaseGraceMs: 500,
    keyBusyWaitMs: 60_000,
    flow: roomyFlow,
    isUnavailable: (err) => (err as Error).message === 'database unreachable',
    warn: (_err, message) => warnings.push(message),
  })
  /** Claims, sends and waits for every outcome to be stored. */
  const execute = async (ids: TaskId[]) => Promise.all(await executor.execute(ids))
  const submitOne = (url = 'https://x.test/', retry = {}, ownerKeyId = 'k') =>
    submit({ ownerKeyId, request: { method: 'GET', url }, retry })
  const promote = makePromoteDue({ tasks: store })
  const promoteDue = async (limit: number) => (await promote(limit)).promoted
  const expireLeases = makeExpireLeases({ tasks: store })
  return { store, clock, sender, capacity, executor, execute, submitOne, promoteDue, expireLeases, warnings }
}

/** A promise with its resolver, for a send or a write a test releases when it chooses. */
function gate<T = void>() {
  let open!: (value: T) => void
  const opened = new Promise<T>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

describe('taskExecutor', () => {
  it('sends each claimed task once and records done with the response', async () => {
    const { store, sender, execute, submitOne } = setup(() => okResponse(201, 'created'))
    const ids = [await submitOne('https://x.test/1'), await submitOne('https://x.test/2')]
    const results = await execute(ids)
    expect(sender.sent.map((r) => r.url)).toEqual(['https://x.test/1', 'https://x.test/2'])
    expect(results.map((r) => [r?.attempt.taskId, r?.attempt.n, r?.next])).toEqual([
      [ids[0], 1, { status: 'done' }],
      [ids[1], 1, { status: 'done' }],
    ])
    for (const id of ids) {
      const view = await store.findOwned(id, 'k')
      expect(view?.task.status).toBe('done')
      expect(view?.history.map((h) => h.status)).toEqual(['new', 'in_process', 'done'])
      expect(view?.lastAttempt?.outcome).toEqual(okResponse(201, 'created'))
    }
  })

  it('schedules a retry after a timeout and gives up with error once the attempts run out', async () => {
    const { store, clock, sender, execute, submitOne, promoteDue } = setup(() => timeout)
    const id = await submitOne('https://x.test/', { maxAttempts: 2, backoff: { baseMs: 1000, maxMs: 5000 } })

    await execute([id])
    expect((await store.findOwned(id, 'k'))?.task).toMatchObject({
      status: 'scheduled',
      runAt: new Date(clock.now().getTime() + 500), // half of the first ceiling, 1000 ms, on the store's clock
      waitReason: 'retry',
    })
    clock.advance(499)
    expect(await promoteDue(10)).toEqual([])
    clock.advance(1)
    expect(await promoteDue(10)).toEqual([id])
    await execute([id])

    const view = await store.findOwned(id, 'k')
    expect(view?.task).toMatchObject({ status: 'error', attempts: 2, runAt: null })
    expect(view?.history.map((h) => h.status)).toEqual(['new', 'in_process', 'scheduled', 'new', 'in_process', 'error'])
    expect(sender.sent).toHaveLength(2)
    expect(store.outbox.at(-1)).toEqual({
      id: expect.any(String),
      kind: 'task.dead-lettered',
      taskId: id,
      payload: {
        version: 1,
        reason: 'gave-up',
        taskId: id,
        attemptCount: 2,
        lastAttempt: {
          n: 2,
          startedAt: clock.now().toISOString(),
          durationMs: 1000,
          error: { code: 'timeout', message: 'no answer in 1000 ms' },
        },
      },
    })
  })

  it('retries a 503 and ends done with the response that finally came', async () => {
    const answers = [okResponse(503, 'busy'), okResponse(200, 'fine')]
    const { store, clock, execute, submitOne, promoteDue } = setup(() => answers.shift() ?? okResponse(500))
    const id = await submitOne()

    await execute([id])
    clock.advance(500)
    await promoteDue(10)
    await execute([id])

    const view = await store.findOwned(id, 'k')
    expect(view?.task).toMatchObject({ status: 'done', attempts: 2 })
    expect(view?.attempts.map((a) => a.httpStatusCode)).toEqual([503, 200])
    expect(view?.lastAttempt?.outcome).toEqual(okResponse(200, 'fine'))
  })

  it('never retries a 404: the task is done at once', async () => {
    const { store, sender, execute, submitOne } = setup(() => okResponse(404, 'no such thing'))
    const id = await submitOne()

    await execute([id])

    expect((await store.findOwned(id, 'k'))?.task).toMatchObject({ status: 'done', attempts: 1 })
    expect(sender.sent).toHaveLength(1)
  })

  it('sends nothing for a redelivered message of a finished task', async () => {
    const { sender, execute, submitOne } = setup()
    const id = await submitOne()
    await execute([id])
    const again = await execute([id, id])
    expect(again).toEqual([null, null])
    expect(sender.sent).toHaveLength(1)
  })

  it('leaves the task claimed when the store refuses its outcome, for the lease to bring it back', async () => {
    const { store, clock, executor, submitOne, expireLeases } = setup()
    const id = await submitOne()
    store.recordAttempts = async () => {
      throw new Error('invalid byte sequence')
    }
    const [run] = await executor.execute([id])
    await expect(run).rejects.toThrow('invalid byte sequence')
    expect((await store.findOwned(id, 'k'))?.task.status).toBe('in_process')

    expect(await expireLeases(10)).toEqual({ requeued: [], interrupted: [] }) // timeout 1000 + grace 500
    clock.advance(1501)
    expect(await expireLeases(10)).toEqual({ requeued: [id], interrupted: [] })
    expect((await store.findOwned(id, 'k'))?.history.map((h) => h.status)).toEqual(['new', 'in_process', 'new'])
  })

  it('writes an outcome again while the store is unreachable, until it is stored', async () => {
    const { store, executor, submitOne } = setup()
    const id = await submitOne()
    const recordAttempts = store.recordAttempts.bind(store)
    let failures = 3
    store.recordAttempts = async (results) => {
      if (failures-- > 0) throw new Error('database unreachable')
      return recordAttempts(results)
    }

    const [run] = await executor.execute([id])

    expect((await run)?.next).toEqual({ status: 'done' })
    expect(failures).toBe(-1)
    expect((await store.findOwned(id, 'k'))?.task.status).toBe('done')
  })

  it('stores each outcome as it comes: a send that never ends holds back no other task', async () => {
    const { store, sender, executor, submitOne } = setup()
    const ids = [await submitOne('https://x.test/silent'), await submitOne('https://x.test/fast')]
    sender.send = async (request) => (request.url.endsWith('/silent') ? new Promise(() => {}) : okResponse())

    const [silent, fast] = await executor.execute(ids)
    expect((await fast)?.next).toEqual({ status: 'done' })
    expect((await store.findOwned(ids[1]!, 'k'))?.task.status).toBe('done')
    expect((await store.findOwned(ids[0]!, 'k'))?.task.status).toBe('in_process')
    expect(await Promise.race([silent, 'still sending'])).toBe('still sending')
  })

  it('writes the outcomes that finish during a write together, in the next one', async () => {
    const { store, execute, submitOne } = setup()
    const ids = [] as TaskId[]
    for (let i = 0; i < 5; i++) ids.push(await submitOne(`https://x.test/${i}`))
    const writes: number[] = []
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results) => {
      writes.push(results.length)
      await new Promise((resolve) => setTimeout(resolve, 5))
      return recordAttempts(results)
    }

    const results = await execute(ids)

    expect(results.map((r) => r?.next.status)).toEqual(['done', 'done', 'done', 'done', 'done'])
    expect(writes).toEqual([1, 4])
  })

  it('stores the other outcomes of a write that one outcome fails, each on its own', async () => {
    const { store, executor, submitOne } = setup()
    const ids = [] as TaskId[]
    for (let i = 0; i < 4; i++) ids.push(await submitOne(`https://x.test/${i}`))
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (results.some((r) => r.attempt.taskId === ids[2])) throw new Error('invalid byte sequence')
      return recordAttempts(results)
    }

    const settled = await Promise.allSettled(await executor.execute(ids))

    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    const statuses = await Promise.all(ids.map(async (id) => (await store.findOwned(id, 'k'))?.task.status))
    expect(statuses).toEqual(['done', 'done', 'in_process', 'done']) // the refused one is left to its lease
  })

  it('claims the calls that overlap a running claim together, in one statement', async () => {
    const { store, sender, executor, submitOne } = setup()
    const [a, b, c] = [
      await submitOne('https://x.test/a'),
      await submitOne('https://x.test/b'),
      await submitOne('https://x.test/c'),
    ]
    const claims: TaskId[][] = []
    const claim = store.claim.bind(store)
    store.claim = async (ids, lease, room) => {
      claims.push([...ids])
      await new Promise((resolve) => setTimeout(resolve, 5))
      return claim(ids, lease, room)
    }

    const calls = await Promise.all([executor.execute([a!]), executor.execute([b!, c!]), executor.execute([c!])])
    const results = await Promise.all(calls.map((runs) => Promise.all(runs)))

    expect(claims).toEqual([[a], [b, c, c]])
    expect(results.map((r) => r.map((x) => x?.attempt.taskId ?? null))).toEqual([[a], [b, c], [null]])
    expect(sender.sent).toHaveLength(3) // c, asked for twice, is sent once
  })

  it('keeps a late attempt as history without overriding the claim that replaced it', async () => {
    const { store, clock, execute, submitOne, expireLeases } = setup()
    const id = await submitOne()
    const { claimed } = await store.claim(
      [id],
      { leaseGraceMs: 0, keyBusyWaitMs: 0, flow: roomyFlow },
      { byOwner: new Map(), others: 1 },
    )
    clock.advance(2000)
    await expireLeases(10)
    await execute([id]) // attempt 2 completes
    await store.recordAttempts([
      {
        attempt: { taskId: id, n: claimed[0]!.attempts, startedAt: clock.now(), outcome: timeout },
        next: { status: 'error' },
      },
    ])
    const view = await store.findOwned(id, 'k')
    expect(view?.task).toMatchObject({ status: 'done', attempts: 2 })
    expect(store.rows.get(id)?.attempts.map((a) => a.n)).toEqual([1, 2])
  })
})

describe('taskExecutor under backpressure', () => {
  it('claims nothing more while the outcomes waiting to be stored fill their buffer, and resumes as they are stored', async () => {
    const { store, capacity, executor, submitOne } = setup(undefined, { slots: 10, unstored: 2 })
    const ids = [await submitOne('https://x.test/1'), await submitOne('https://x.test/2')]
    const write = gate()
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results) => {
      await write.opened
      return recordAttempts(results)
    }
    expect(capacity.room()).toBe(10)

    const runs = await executor.execute(ids)
    await expect.poll(() => capacity.unstored.count).toBe(2)

    // 1. Both sends ended, so their slots are free, but their outcomes fill the buffer: no claim may start.
    expect(capacity.room()).toBe(0)
    expect(capacity.held).toBe(2)
    // 2. Once stored, the buffer empties and every slot is open again.
    write.open()
    await Promise.all(runs)
    expect(capacity.room()).toBe(10)
    expect(capacity.held).toBe(0)
  })

  it('counts the buffer in bytes too: one large outcome is enough to hold back claims', async () => {
    const big = okResponse(200, 'x'.repeat(4096))
    const { store, capacity, executor, submitOne } = setup(() => big, { unstoredBytes: 4096 })
    const write = gate()
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results) => {
      await write.opened
      return recordAttempts(results)
    }

    const [run] = await executor.execute([await submitOne()])
    await expect.poll(() => capacity.unstored.bytes).toBeGreaterThanOrEqual(4096)

    expect(capacity.room()).toBe(0)
    write.open()
    await run
    expect(capacity.unstored).toEqual({ count: 0, bytes: 0 })
    expect(capacity.room()).toBe(100)
  })

  it('renews the lease of a task whose outcome waits, so the sweeper never takes back a task already sent', async () => {
    const { store, clock, executor, submitOne, expireLeases } = setup()
    const id = await submitOne() // timeout 1000 ms, lease 1500 ms from the claim
    const write = gate()
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results) => {
      await write.opened
      return recordAttempts(results)
    }
    const [run] = await executor.execute([id])

    // 1. The outcome waits well past the first lease, renewed every 400 ms as the tasker's loop would.
    for (let waited = 0; waited < 5_000; waited += 400) {
      clock.advance(400)
      expect(await executor.renewLeases()).toBe(1)
      expect(await expireLeases(10)).toEqual({ requeued: [], interrupted: [] })
    }
    // 2. Stored at last: done, sent once, and nothing left to renew.
    write.open()
    expect((await run)?.next).toEqual({ status: 'done' })
    expect(await executor.renewLeases()).toBe(0)
    expect((await store.findOwned(id, 'k'))?.history.map((h) => h.status)).toEqual(['new', 'in_process', 'done'])
  })
})

describe('taskExecutor sharing send slots between API keys', () => {
  it("claims no more of one key's tasks than its share of the slots; the rest wait, and a freed slot wakes one", async () => {
    const slow = gate<SendOutcome>()
    const { store, capacity, executor, submitOne } = setup(
      (request) => (request.url.startsWith('https://slow.test/') ? slow.opened : okResponse()),
      { slots: 10, slotsPerKey: 2 },
    )
    const greedy = [] as TaskId[]
    for (let i = 0; i < 5; i++) greedy.push(await submitOne(`https://slow.test/${i}`, {}, 'greedy'))
    const other = await submitOne('https://fast.test/', {}, 'other')
    store.outbox.splice(0)

    const runs = await executor.execute([...greedy, other])

    // 1. Two of the greedy key's tasks are sent; three wait as key-busy, with no attempt spent, and no outbox entry.
    const tasksOf = () => Promise.all(greedy.map(async (id) => (await store.findOwned(id, 'greedy'))?.task))
    expect((await tasksOf()).map((t) => [t?.status, t?.waitReason, t?.attempts])).toEqual([
      ['in_process', null, 1],
      ['in_process', null, 1],
      ['scheduled', 'key-busy', 0],
      ['scheduled', 'key-busy', 0],
      ['scheduled', 'key-busy', 0],
    ])
    expect(store.outbox).toEqual([])
    // 2. The other key's task is not held up by them.
    expect((await runs[5])?.next).toEqual({ status: 'done' })
    expect(capacity.sendingFor('greedy')).toBe(2)
    // 3. The slow sends end: each freed slot wakes a waiting task, oldest first, through the outbox.
    slow.open(okResponse())
    await Promise.all(runs)
    await expect.poll(() => store.outbox.map((e) => e.taskId)).toEqual([greedy[2], greedy[3]])
    expect((await tasksOf()).map((t) => t?.status)).toEqual(['done', 'done', 'new', 'new', 'scheduled'])
    expect((await store.findOwned(greedy[2]!, 'greedy'))?.history.map((h) => [h.status, h.reason])).toEqual([
      ['new', null],
      ['scheduled', 'key-busy'],
      ['new', null],
    ])
  })
})

describe("taskExecutor counting a key's slots across overlapping claims", () => {
  it('counts the tasks of one claim before the next claim of the same key reads its room', async () => {
    const slow = gate<SendOutcome>()
    const { store, executor, capacity, submitOne } = setup(() => slow.opened, { slots: 10, slotsPerKey: 2 })
    const [a, b, c] = [
      await submitOne('https://x.test/a'),
      await submitOne('https://x.test/b'),
      await submitOne('https://x.test/c'),
    ]

    // The second call overlaps the first, so its claim runs as soon as the first one's statement returns.
    const [first, second] = await Promise.all([executor.execute([a, b]), executor.execute([c])])

    expect(capacity.sendingFor('k')).toBe(2)
    expect((await store.findOwned(c, 'k'))?.task).toMatchObject({ status: 'scheduled', waitReason: 'key-busy' })
    slow.open(okResponse())
    await Promise.all([...first, ...second])
  })
})

describe('publishPending', () => {
  it('publishes queued entries once and keeps them when the broker refuses', async () => {
    const store = new InMemoryStore()
    const publisher = new RecordingPublisher()
    const publish = makePublishPending({ outbox: store, publisher })
    const submit = makeSubmitTask({
      tasks: store,
      targets: anyTarget,
      newId: sequentialIds(),
      now: manualClock().now,
      defaultTimeoutMs: 1000,
      wakeRelay: () => {},
      defaultRetry: retryDefaults,
    })
    const ids: TaskId[] = []
    for (let i = 0; i < 3; i++)
      ids.push(await submit({ ownerKeyId: 'k', request: { method: 'GET', url: 'https://x.test/' } }))

    publisher.failNext = true
    await expect(publish(2)).rejects.toThrow('broker unavailable')
    expect(store.outbox).toHaveLength(3)

    expect(await publish(2)).toBe(2)
    expect(await publish(2)).toBe(1)
    expect(await publish(2)).toBe(0)
    expect(publisher.published.map((e) => e.taskId)).toEqual(ids)
  })
})
