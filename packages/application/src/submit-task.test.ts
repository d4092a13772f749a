import { DEFAULT_RETRY_ON } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { makeGetTask } from './get-task.js'
import { makeSubmitTask } from './submit-task.js'
import { InMemoryStore, manualClock, retryDefaults, sequentialIds } from './testing/index.js'

function setup() {
  const store = new InMemoryStore()
  const clock = manualClock()
  const submitTask = makeSubmitTask({
    tasks: store,
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 5000,
    defaultRetry: retryDefaults,
  })
  const getTask = makeGetTask({ tasks: store })
  return { store, clock, submitTask, getTask }
}

describe('submitTask', () => {
  it('stores the task as new and queues its publication', async () => {
    const { store, clock, submitTask } = setup()
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
      status: 'new',
      attempts: 0,
      retry: { ...retryDefaults, retryOn: DEFAULT_RETRY_ON },
      runAt: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
    })
    expect(store.outbox).toEqual([{ id: '1', kind: 'task.requested', taskId: id }])
  })

  it('stores nothing when the request is invalid', async () => {
    const { store, submitTask } = setup()
    await expect(
      submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'ftp://x.test/' } }),
    ).rejects.toMatchObject({ code: 'invalid-request', issues: [{ path: 'url' }] })
    expect(store.rows.size).toBe(0)
    expect(store.outbox).toEqual([])
  })
})

describe('getTask', () => {
  it('returns the owner its task with its history', async () => {
    const { submitTask, getTask, clock } = setup()
    const id = await submitTask({ ownerKeyId: 'team-a', request: { method: 'GET', url: 'https://x.test/' } })
    const view = await getTask(id, 'team-a')
    expect(view.history).toEqual([{ status: 'new', at: clock.now() }])
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
