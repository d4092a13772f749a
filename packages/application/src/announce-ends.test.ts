import { createTask, DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { InMemoryStore, manualClock, okResponse, roomyFlow, sequentialIds } from '../testing/index.js'
import { announcingEnds } from './announce-ends.js'

const POLICY = { leaseGraceMs: 1, keyBusyWaitMs: 1, flow: roomyFlow }
const ROOM = { byOwner: new Map<string, number>(), others: 9 }
const retry = { maxAttempts: 3, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
const request = { method: 'GET' as const, url: 'https://a.example/', headers: [], body: null, timeoutMs: 1_000 }

describe('announcingEnds', () => {
  it('announces the tasks a write of outcomes ended, after the write, and not those it only rescheduled', async () => {
    const clock = manualClock()
    const store = new InMemoryStore(clock.now)
    const announced: TaskId[][] = []
    const tasks = announcingEnds(store, (ids) => announced.push([...ids]))
    const ids = sequentialIds()
    const [a, b] = [ids(), ids()].map((id) => createTask({ id, ownerKeyId: 'k', request, retry, now: clock.now() }))
    await store.add([a!, b!])
    await store.claim([a!.id, b!.id], POLICY, ROOM)

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

  it('announces the tasks a claim ended because their deadline had passed, and not those it took', async () => {
    const clock = manualClock()
    const store = new InMemoryStore(clock.now)
    const announced: TaskId[][] = []
    const tasks = announcingEnds(store, (ids) => announced.push([...ids]))
    const ids = sequentialIds()
    const expiresAt = new Date(clock.now().getTime() + 1_000)
    const expiring = createTask({ id: ids(), ownerKeyId: 'k', request, retry, expiresAt, now: clock.now() })
    const sent = createTask({ id: ids(), ownerKeyId: 'k', request, retry, now: clock.now() })
    await store.add([expiring, sent])
    clock.advance(2_000)

    const { claimed, expired } = await tasks.claim([expiring.id, sent.id], POLICY, ROOM)

    expect(expired).toEqual([expiring.id])
    expect(claimed.map((t) => t.id)).toEqual([sent.id])
    expect(announced).toEqual([[expiring.id]])
  })
})
