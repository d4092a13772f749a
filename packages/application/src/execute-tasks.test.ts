import type { SendOutcome, TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { makeExecuteTasks } from './execute-tasks.js'
import { makePromoteDue } from './promote-due.js'
import { makePublishPending } from './publish-pending.js'
import { makeRequeueStale } from './requeue-stale.js'
import { makeSubmitTask } from './submit-task.js'
import {
  anyTarget,
  InMemoryStore,
  manualClock,
  okResponse,
  RecordingPublisher,
  retryDefaults,
  ScriptedSender,
  sequentialIds,
} from './testing/index.js'

const timeout: SendOutcome = {
  kind: 'failure',
  error: { code: 'timeout', message: 'no answer in 1000 ms' },
  durationMs: 1000,
}

function setup(respond?: ConstructorParameters<typeof ScriptedSender>[0]) {
  const store = new InMemoryStore()
  const clock = manualClock()
  const sender = new ScriptedSender(respond)
  const submit = makeSubmitTask({
    tasks: store,
    targets: anyTarget,
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 1000,
    defaultRetry: retryDefaults,
    wakeRelay: () => {},
  })
  const start = makeExecuteTasks({
    tasks: store,
    sender,
    now: clock.now,
    random: () => 0.5,
    leaseGraceMs: 500,
  })
  /** Claims, sends and waits for every outcome to be stored. */
  const execute = async (ids: TaskId[]) => Promise.all((await start(ids)).map((run) => run.stored))
  const submitOne = (url = 'https://x.test/', retry = {}) =>
    submit({ ownerKeyId: 'k', request: { method: 'GET', url }, retry })
  const promoteDue = makePromoteDue({ tasks: store, now: clock.now })
  return { store, clock, sender, start, execute, submitOne, promoteDue }
}

describe('executeTasks', () => {
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
      runAt: new Date(clock.now().getTime() + 500), // half of the first ceiling, 1000 ms
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

  it('stores nothing and leaves the task claimed when storing fails, so the sweeper can requeue it', async () => {
    const { store, clock, start, submitOne } = setup()
    const id = await submitOne()
    store.recordAttempts = async () => {
      throw new Error('database down')
    }
    const [run] = await start([id])
    await run!.sent
    await expect(run!.stored).rejects.toThrow('database down')
    expect((await store.findOwned(id, 'k'))?.task.status).toBe('in_process')

    const requeue = makeRequeueStale({ tasks: store, now: clock.now })
    expect(await requeue(10)).toEqual([]) // the lease (timeout 1000 + grace 500) still holds
    clock.advance(1501)
    expect(await requeue(10)).toEqual([id])
    expect((await store.findOwned(id, 'k'))?.history.map((h) => h.status)).toEqual(['new', 'in_process', 'new'])
  })

  it('stores each outcome as it comes: a send that never ends holds back no other task', async () => {
    const { store, sender, start, submitOne } = setup()
    const ids = [await submitOne('https://x.test/silent'), await submitOne('https://x.test/fast')]
    sender.send = async (request) => (request.url.endsWith('/silent') ? new Promise(() => {}) : okResponse())

    const [silent, fast] = await start(ids)
    expect((await fast!.stored)?.next).toEqual({ status: 'done' })
    expect((await store.findOwned(ids[1]!, 'k'))?.task.status).toBe('done')
    expect((await store.findOwned(ids[0]!, 'k'))?.task.status).toBe('in_process')
    expect(await Promise.race([silent!.sent, 'still sending'])).toBe('still sending')
  })

  it('writes the outcomes that finish during a write together, in the next one', async () => {
    const { store, execute, submitOne } = setup()
    const ids = [] as TaskId[]
    for (let i = 0; i < 5; i++) ids.push(await submitOne(`https://x.test/${i}`))
    const writes: number[] = []
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results, now) => {
      writes.push(results.length)
      await new Promise((resolve) => setTimeout(resolve, 5))
      return recordAttempts(results, now)
    }

    const results = await execute(ids)

    expect(results.map((r) => r?.next.status)).toEqual(['done', 'done', 'done', 'done', 'done'])
    expect(writes).toEqual([1, 4])
  })

  it('stores the other outcomes of a write that one outcome fails, each on its own', async () => {
    const { store, start, submitOne } = setup()
    const ids = [] as TaskId[]
    for (let i = 0; i < 4; i++) ids.push(await submitOne(`https://x.test/${i}`))
    const recordAttempts = store.recordAttempts.bind(store)
    store.recordAttempts = async (results, now) => {
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (results.some((r) => r.attempt.taskId === ids[2])) throw new Error('invalid byte sequence')
      return recordAttempts(results, now)
    }

    const runs = await start(ids)
    const settled = await Promise.allSettled(runs.map((run) => run.stored))

    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    const statuses = await Promise.all(ids.map(async (id) => (await store.findOwned(id, 'k'))?.task.status))
    expect(statuses).toEqual(['done', 'done', 'in_process', 'done']) // the refused one is left to the sweeper
  })

  it('claims the calls that overlap a running claim together, in one statement', async () => {
    const { store, sender, start, submitOne } = setup()
    const [a, b, c] = [
      await submitOne('https://x.test/a'),
      await submitOne('https://x.test/b'),
      await submitOne('https://x.test/c'),
    ]
    const claims: TaskId[][] = []
    const claim = store.claim.bind(store)
    store.claim = async (ids, now, grace) => {
      claims.push([...ids])
      await new Promise((resolve) => setTimeout(resolve, 5))
      return claim(ids, now, grace)
    }

    const calls = await Promise.all([start([a!]), start([b!, c!]), start([c!])])
    const results = await Promise.all(calls.map((runs) => Promise.all(runs.map((run) => run.stored))))

    expect(claims).toEqual([[a], [b, c, c]])
    expect(results.map((r) => r.map((x) => x?.attempt.taskId ?? null))).toEqual([[a], [b, c], [null]])
    expect(sender.sent).toHaveLength(3) // c, asked for twice, is sent once
  })

  it('keeps a late attempt as history without overriding the claim that replaced it', async () => {
    const { store, clock, execute, submitOne } = setup()
    const id = await submitOne()
    const [first] = await store.claim([id], clock.now(), 0)
    clock.advance(2000)
    await makeRequeueStale({ tasks: store, now: clock.now })(10)
    await execute([id]) // attempt 2 completes
    await store.recordAttempts(
      [
        {
          attempt: { taskId: id, n: first!.attempts, startedAt: clock.now(), outcome: timeout },
          next: { status: 'error' },
        },
      ],
      clock.now(),
    )
    const view = await store.findOwned(id, 'k')
    expect(view?.task).toMatchObject({ status: 'done', attempts: 2 })
    expect(store.rows.get(id)?.attempts.map((a) => a.n)).toEqual([1, 2])
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
