import { createTask, DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { announcingEnds } from './announce-ends.js'
import { InMemoryStore, manualClock, okResponse, sequentialIds } from './testing/index.js'

describe('announcingEnds', () => {
  it('announces the tasks a write of outcomes ended, after the write, and not those it only rescheduled', async () => {
    const clock = manualClock()
    const store = new InMemoryStore(clock.now)
    const announced: TaskId[][] = []
    const tasks = announcingEnds(store, (ids) => announced.push([...ids]))
    const ids = sequentialIds()
    const retry = { maxAttempts: 3, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
    const request = { method: 'GET' as const, url: 'https://a.example/', headers: [], body: null, timeoutMs: 1_000 }
    const [a, b] = [ids(), ids()].map((id) => createTask({ id, ownerKeyId: 'k', request, retry, now: clock.now() }))
    for (const t of [a!, b!]) await store.add(t)
    await store.claim([a!.id, b!.id], { leaseGraceMs: 1, keyBusyWaitMs: 1 }, { byOwner: new Map(), others: 9 })

    await tasks.recordAttempts([
      { attempt: { taskId: a!.id, n: 1, startedAt: clock.now(), outcome: okResponse() }, next: { status: 'done' } },
      {
        attempt: { taskId: b!.id, n: 1, startedAt: clock.now(), outcome: okResponse(503) },
        next: { status: 'scheduled', delayMs: 5 },
      },
    ])

    expect(announced).toEqual([[a!.id]])
    expect((await store.findOwned(a!.id, 'k'))?.task.status).toBe('done')
  })
})
