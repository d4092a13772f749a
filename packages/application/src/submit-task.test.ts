import { DEFAULT_RETRY_ON, type ScheduleInput } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import {
  anyTarget,
  InMemoryStore,
  manualClock,
  refusingTargets,
  retryDefaults,
  sequentialIds,
} from '../testing/index.js'
import { makeGetTask } from './get-task.js'
import { makePromoteDue } from './promote-due.js'
import { makeSubmitTask, makeSubmitTaskOnce } from './submit-task.js'

function setup() {
  const clock = manualClock()
  const store = new InMemoryStore(clock.now)
  const wakes = { count: 0 }
  const submitTask = makeSubmitTask({
    tasks: store,
    targets: refusingTargets('127.0.0.1'),
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 5000,
    defaultRetry: retryDefaults,
    wakeRelay: () => wakes.count++,
  })
  const getTask = makeGetTask({ tasks: store })
  return { store, clock, submitTask, getTask, wakes }
}

describe('submitTask', () => {
  it('stores the task as new and queues its publication', async () => {
    const { store, clock, submitTask, wakes } = setup()
    const id = await submitTask({
      ownerKeyId: 'team-a',
      request: { method: 'POST', url: 'https://x.test/a', body: 'hi' },
    })
    expect(store.rows.get(id)?.task).toEqual({
      id,
      ownerKeyId: 'team-a',
      request: {
        method: 'POST',
        url: 'https://x.test/a',
        headers: [],
        body: new TextEncoder().encode('hi'),
        timeoutMs: 5000,
      },
      flowKey: 'https://x.test',
      kind: 'request',
      parentId: null,
      callbacks: null,
      sign: false,
      expiresAt: null,
      endCode: null,
      status: 'new',
      attempts: 0,
      budgetFrom: 0,
      retry: { ...retryDefaults, retryOn: DEFAULT_RETRY_ON },
      runAt: null,
      waitReason: null,
      traceparent: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
    })
    expect(store.outbox).toEqual([{ id: '1', kind: 'task.requested', taskId: id }])
    expect(wakes.count).toBe(1)
  })

  it('stores a task given a delay as scheduled, with no outbox entry until the scheduler finds it due', async () => {
    const { store, clock, submitTask, wakes } = setup()
    const id = await submitTask({
      ownerKeyId: 'team-a',
      request: { method: 'GET', url: 'https://x.test/later' },
      schedule: { delayMs: 60_000 },
    })
    expect(wakes.count).toBe(0) // nothing for the relay until the scheduler finds it due

    expect(store.rows.get(id)?.task).toMatchObject({
      status: 'scheduled',
      runAt: new Date(clock.now().getTime() + 60_000),
    })
    expect(store.rows.get(id)?.history).toEqual([{ status: 'scheduled', at: clock.now(), reason: 'not-before' }])
    expect(store.outbox).toEqual([])

    const promote = makePromoteDue({ tasks: store })
    expect(await promote(10)).toEqual({ promoted: [], nextDueInMs: 60_000 })
    clock.advance(60_000)
    expect(await promote(10)).toEqual({ promoted: [id], nextDueInMs: null })
    expect(store.outbox).toEqual([{ id: '1', kind: 'task.requested', taskId: id }])
  })

  it('reports a bad schedule together with every other bad field, storing nothing', async () => {
    const { store, submitTask } = setup()
    await expect(
      submitTask({
        ownerKeyId: 'team-a',
        request: { method: 'GET', url: 'ftp://x.test/' },
        retry: { maxAttempts: 0 },
        schedule: { notBefore: '2020-01-01T00:00:00Z' },
      }),
    ).rejects.toMatchObject({
      code: 'invalid-request',
      issues: [{ path: 'url' }, { path: 'retry.maxAttempts' }, { path: 'notBefore' }],
    })
    expect(store.rows.size).toBe(0)
  })

  it('stores nothing when the request is invalid', async () => {
    const { store, submitTask, wakes } = setup()
    await expect(
      submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'ftp://x.test/' } }),
    ).rejects.toMatchObject({ code: 'invalid-request', issues: [{ path: 'url' }] })
    expect(store.rows.size).toBe(0)
    expect(store.outbox).toEqual([])
    expect(wakes.count).toBe(0)
  })

  it('stores nothing when the policy refuses the target, judging the normalised URL', async () => {
    const { store, submitTask } = setup()
    // 2130706433 is 127.0.0.1 written as one number; the policy sees the URL the task would be sent to.
    await expect(
      submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'http://2130706433:8080/admin' } }),
    ).rejects.toMatchObject({
      code: 'invalid-request',
      issues: [{ path: 'url', message: 'the address range is not allowed' }],
    })
    expect(store.rows.size).toBe(0)
    expect(store.outbox).toEqual([])
  })
})

describe('getTask', () => {
  it('returns the owner its task with its history', async () => {
    const { submitTask, getTask, clock } = setup()
    const id = await submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'https://x.test/' } })
    const view = await getTask(id, 'team-a')
    expect(view.history).toEqual([{ status: 'new', at: clock.now(), reason: null }])
    expect(view.lastAttempt).toBeNull()
  })

  it("hides another key's task as not found", async () => {
    const { submitTask, getTask } = setup()
    const id = await submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'https://x.test/' } })
    await expect(getTask(id, 'team-b')).rejects.toMatchObject({ code: 'task-not-found' })
  })

  it('refuses a malformed id before looking it up', async () => {
    const { getTask } = setup()
    await expect(getTask('123; drop table tasks', 'team-a')).rejects.toMatchObject({
      code: 'invalid-request',
      issues: [{ path: 'id', message: 'must be a UUID' }],
    })
  })
})

describe('submitTaskOnce', () => {
  function setupOnce() {
    const store = new InMemoryStore()
    const clock = manualClock()
    const submit = makeSubmitTaskOnce({
      tasks: store,
      keys: store,
      targets: anyTarget,
      wakeRelay: () => {},
      newId: sequentialIds(),
      now: clock.now,
      defaultTimeoutMs: 5000,
      defaultRetry: retryDefaults,
      idempotencyWindowMs: 60_000,
    })
    const once = (idempotencyKey: string, bodyHash: string, schedule: ScheduleInput = {}) =>
      submit({
        ownerKeyId: 'team-a',
        request: { method: 'GET', url: 'https://x.test/' },
        schedule,
        idempotencyKey,
        bodyHash,
      })
    return { store, clock, once }
  }

  it('answers the first task again for the same key and body within the window, storing nothing more', async () => {
    const { store, clock, once } = setupOnce()
    const first = await once('order-7', 'h1')
    clock.advance(60_000)

    expect(await once('order-7', 'h1')).toEqual({ id: first.id, created: false })
    expect(first.created).toBe(true)
    expect(store.rows.size).toBe(1)
    expect(store.outbox).toHaveLength(1)
  })

  // The 201 was lost and the client retries after notBefore: that body was valid when it was first sent.
  it('answers a scheduled task again when its repeat comes after its notBefore passed', async () => {
    const { store, clock, once } = setupOnce()
    const notBefore = new Date(clock.now().getTime() + 5_000).toISOString()
    const first = await once('order-7', 'h1', { notBefore })
    clock.advance(30_000)

    expect(await once('order-7', 'h1', { notBefore })).toEqual({ id: first.id, created: false })
    expect(store.rows.size).toBe(1)
  })

  it('still refuses a past notBefore for a key it has not seen', async () => {
    const { store, clock, once } = setupOnce()
    const notBefore = new Date(clock.now().getTime() - 1).toISOString()

    await expect(once('order-8', 'h1', { notBefore })).rejects.toMatchObject({
      code: 'invalid-request',
      issues: [{ path: 'notBefore', message: 'must be in the future' }],
    })
    expect(store.rows.size).toBe(0)
  })

  it('refuses the same key with another body', async () => {
    const { store, once } = setupOnce()
    await once('order-7', 'h1')

    await expect(once('order-7', 'h2')).rejects.toMatchObject({
      code: 'idempotency-key-reused',
      message: 'Idempotency-Key "order-7" was used for another body within the window',
    })
    expect(store.rows.size).toBe(1)
  })

  it('stores a new task once the window has passed', async () => {
    const { store, clock, once } = setupOnce()
    const first = await once('order-7', 'h1')
    clock.advance(60_001)

    const second = await once('order-7', 'h2')

    expect(second).toEqual({ id: expect.not.stringMatching(first.id), created: true })
    expect(store.rows.size).toBe(2)
  })

  it.each([
    ['empty', ''],
    ['300 characters', 'k'.repeat(300)],
  ])('refuses a key that is %s, naming the header, storing nothing', async (_name, key) => {
    const { store, once } = setupOnce()

    await expect(once(key, 'h1')).rejects.toMatchObject({
      code: 'invalid-request',
      issues: [{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }],
    })
    expect(store.rows.size).toBe(0)
  })
})
