import {
  type Attempt,
  type Callbacks,
  type CallbackTarget,
  callbackDocument,
  createTask,
  DEFAULT_RETRY_ON,
  INTERRUPTED_MESSAGE,
  type OutboundRequest,
  type RetryPolicy,
  SEND_AHEAD_MS,
  type SendOutcome,
  type Task,
  type TaskId,
} from '@request-tasker/domain'
import { beforeEach, describe, expect, it } from 'vitest'
import { deadLetterOf, expiredLetterOf } from '../src/dead-letter.js'
import type { FlowControls } from '../src/ports/flow-controls.js'
import type { Outbox, OutboxEntry } from '../src/ports/outbox.js'
import type { AttemptResult, AttemptSummary, KeyRoom, TaskRepository } from '../src/ports/task-repository.js'
import { manualClock, roomyFlow, sequentialIds } from './fakes.js'

/** A fresh, empty store for each test, whose own clock (for Postgres, the database's) reads `clock`. */
export type OpenStore = (
  clock: () => Date,
) => Promise<{ tasks: TaskRepository; outbox: Outbox; flowControls: FlowControls }>

const T0 = new Date('2026-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const OWNER = 'key-1'
const GRACE_MS = 500
const LEASE = { leaseGraceMs: GRACE_MS, keyBusyWaitMs: 60_000, flow: roomyFlow }
/** Room for every task a test claims, whatever its key. */
const ANY_ROOM: KeyRoom = { byOwner: new Map(), others: 1_000 }

function outboundRequest(overrides: Partial<OutboundRequest> = {}): OutboundRequest {
  return {
    method: 'POST',
    url: 'https://example.test/hook?x=1',
    headers: [
      ['x-tag', 'first'],
      ['content-type', 'application/octet-stream'],
      ['x-tag', 'second'],
    ],
    body: Uint8Array.from({ length: 256 }, (_, i) => i), // every byte value: NUL and invalid UTF-8 included
    timeoutMs: 1_000,
    ...overrides,
  }
}

const response: SendOutcome = {
  kind: 'response',
  httpStatusCode: 503,
  headers: [
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
  ],
  length: 4_000,
  body: Uint8Array.of(0xff, 0x00, 0xfe),
  bodyTruncated: true,
  durationMs: 12,
}
const retry: RetryPolicy = {
  maxAttempts: 3,
  backoff: { baseMs: 100, maxMs: 5_000 },
  retryOn: { statuses: [409, 503], errors: DEFAULT_RETRY_ON.errors },
}

/** The verdict a store is told for an attempt that ends its task: done on a response, error without. */
const finished = (attempt: Attempt): AttemptResult => ({
  attempt,
  next: { status: attempt.outcome.kind === 'response' ? 'done' : 'error' },
})

/** The short form of an attempt that findOwned lists. */
function summaryOf({ n, startedAt, outcome }: Attempt): AttemptSummary {
  return {
    n,
    startedAt,
    durationMs: outcome.durationMs,
    httpStatusCode: outcome.kind === 'response' ? outcome.httpStatusCode : null,
    error: outcome.kind === 'failure' ? outcome.error : null,
  }
}

const failure: SendOutcome = {
  kind: 'failure',
  error: { code: 'timeout', message: 'no response within 1000 ms' },
  durationMs: 1_000,
}

/**
 * The promises of TaskRepository and Outbox, run against every implementation (Postgres and the in-memory fake),
 * so the fake the unit tests trust cannot drift from the real store.
 */
export function describeTaskStoreContract(name: string, open: OpenStore): void {
  describe(`${name} keeps the TaskRepository and Outbox contract`, () => {
    let tasks: TaskRepository
    let outbox: Outbox
    let flowControls: FlowControls
    let nextId: ReturnType<typeof sequentialIds>

    const clock = manualClock(T0)

    beforeEach(async () => {
      clock.set(T0)
      ;({ tasks, outbox, flowControls } = await open(clock.now))
      nextId = sequentialIds()
    })

    async function added(overrides: Partial<OutboundRequest> = {}): Promise<Task> {
      const task = createTask({ id: nextId(), ownerKeyId: OWNER, request: outboundRequest(overrides), retry, now: T0 })
      await tasks.add([task])
      return task
    }

    // Every store runs on its own clock (the database's now() for Postgres): a test sets it before each call.
    async function claimAt(now: Date, ids: TaskId[], room: KeyRoom = ANY_ROOM): Promise<readonly Task[]> {
      clock.set(now)
      return (await tasks.claim(ids, LEASE, room)).claimed
    }
    async function recordAt(results: AttemptResult[], now: Date): Promise<void> {
      clock.set(now)
      await tasks.recordAttempts(results)
    }
    async function expireAt(now: Date, limit: number): Promise<readonly TaskId[]> {
      clock.set(now)
      return (await tasks.expireLeases(limit)).requeued
    }
    async function promoteAt(now: Date, limit: number): Promise<TaskId[]> {
      clock.set(now)
      return tasks.promoteDue(limit)
    }

    async function claimed(task: Task, now = T0): Promise<Task> {
      const [claim] = await claimAt(now, [task.id])
      if (!claim) throw new Error(`could not claim ${task.id}`)
      return claim
    }

    async function drainAll(): Promise<OutboxEntry[]> {
      const entries: OutboxEntry[] = []
      await outbox.drain(1_000, async (batch) => {
        entries.push(...batch)
      })
      return entries
    }

    describe('add and findOwned', () => {
      it('reads back the task and its first status, headers in order and body byte for byte', async () => {
        const task = await added()
        const bodiless = await added({ method: 'GET', headers: [], body: null })

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task,
          history: [{ status: 'new', at: T0, reason: null }],
          attempts: [],
          lastAttempt: null,
          callback: null,
        })
        expect((await tasks.findOwned(bodiless.id, OWNER))?.task).toEqual(bodiless)
      })

      it('reads as absent when the task belongs to another key or does not exist', async () => {
        const task = await added()

        expect(await tasks.findOwned(task.id, 'key-2')).toBeNull()
        expect(await tasks.findOwned(nextId(), OWNER)).toBeNull()
      })

      it('queues one outbox entry per added task', async () => {
        const first = await added()
        const second = await added()

        expect(await drainAll()).toEqual([
          { id: expect.any(String), kind: 'task.requested', taskId: first.id },
          { id: expect.any(String), kind: 'task.requested', taskId: second.id },
        ])
      })

      it('stores several tasks in one call, all of them or none', async () => {
        const [a, b, c] = [nextId(), nextId(), nextId()].map((id) =>
          createTask({ id, ownerKeyId: OWNER, request: outboundRequest(), retry, now: T0 }),
        )
        await tasks.add([a!, b!])
        await expect(tasks.add([c!, a!])).rejects.toThrow() // a is there already: c is not stored either

        expect(await tasks.findOwned(c!.id, OWNER)).toBeNull()
        expect((await drainAll()).map((e) => e.taskId)).toEqual([a!.id, b!.id])
      })

      it('rejects a second task with the same id and keeps the first untouched', async () => {
        const task = await added()
        const twin = { ...task, request: outboundRequest({ url: 'https://other.test/' }) }

        await expect(tasks.add([twin])).rejects.toThrow()
        expect((await tasks.findOwned(task.id, OWNER))?.task).toEqual(task)
        expect(await drainAll()).toHaveLength(1)
      })
    })

    describe('claim', () => {
      it('moves a new task to in_process and counts the attempt when claimed', async () => {
        const task = await added()

        expect(await claimAt(at(10), [task.id])).toEqual([
          { ...task, status: 'in_process', attempts: 1, updatedAt: at(10) },
        ])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toEqual([
          { status: 'new', at: T0, reason: null },
          { status: 'in_process', at: at(10), reason: null },
        ])
      })

      it('returns nothing when the task was already claimed, so a redelivery sends nothing', async () => {
        const task = await added()
        await claimed(task, at(10))

        expect(await claimAt(at(20), [task.id])).toEqual([])
        expect(await tasks.findOwned(task.id, OWNER)).toMatchObject({
          task: { status: 'in_process', attempts: 1, updatedAt: at(10) },
          history: [{ status: 'new' }, { status: 'in_process' }],
        })
      })

      it('ignores finished tasks and unknown ids', async () => {
        const task = await added()
        await claimed(task)
        await recordAt([finished({ taskId: task.id, n: 1, startedAt: T0, outcome: response })], at(20))

        expect(await claimAt(at(30), [task.id, nextId()])).toEqual([])
        expect((await tasks.findOwned(task.id, OWNER))?.task).toMatchObject({ status: 'done', attempts: 1 })
      })

      it('claims a task once when its id comes twice in one call', async () => {
        const task = await added()

        expect(await claimAt(at(10), [task.id, task.id])).toEqual([
          { ...task, status: 'in_process', attempts: 1, updatedAt: at(10) },
        ])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toHaveLength(2)
      })

      it('leases the task for its timeout plus the grace', async () => {
        const task = await added({ timeoutMs: 1_000 })
        await claimed(task, T0)

        expect(await expireAt(at(1_000 + GRACE_MS), 10)).toEqual([])
        expect(await expireAt(at(1_000 + GRACE_MS + 1), 10)).toEqual([task.id])
      })
    })

    describe('recordAttempts', () => {
      it('stores a response and moves the task to done', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }

        await recordAt([finished(attempt)], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'done', attempts: 1, updatedAt: at(30) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'done', at: at(30), reason: null },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
          callback: null,
        })
      })

      it('stores a failure and moves the task to error', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: failure }

        await recordAt([finished(attempt)], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'error', attempts: 1, updatedAt: at(30) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'error', at: at(30), reason: null },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
          callback: null,
        })
      })

      it('records a batch of attempts for several tasks in one call', async () => {
        const done = await added()
        const failed = await added()
        await claimAt(at(10), [done.id, failed.id])

        await recordAt(
          [
            finished({ taskId: done.id, n: 1, startedAt: at(11), outcome: response }),
            finished({ taskId: failed.id, n: 1, startedAt: at(11), outcome: failure }),
          ],
          at(30),
        )
        await recordAt([], at(40))

        expect((await tasks.findOwned(done.id, OWNER))?.task).toMatchObject({ status: 'done', updatedAt: at(30) })
        expect((await tasks.findOwned(failed.id, OWNER))?.task).toMatchObject({ status: 'error', updatedAt: at(30) })
      })

      it('keeps a late attempt as history without applying it when the task was requeued and claimed again', async () => {
        const task = await added()
        await claimed(task, at(10))
        await expireAt(at(10_000), 10)
        await claimed(task, at(10_010))
        const late: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: failure }
        const current: Attempt = { taskId: task.id, n: 2, startedAt: at(10_011), outcome: response }

        await recordAt([finished(late)], at(10_020))
        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'in_process', attempts: 2, updatedAt: at(10_010) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'new', at: at(10_000), reason: null },
            { status: 'in_process', at: at(10_010), reason: null },
          ],
          attempts: [summaryOf(late)],
          lastAttempt: late,
          callback: null,
        })

        await recordAt([finished(current)], at(10_030))
        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'done', attempts: 2, updatedAt: at(10_030) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'new', at: at(10_000), reason: null },
            { status: 'in_process', at: at(10_010), reason: null },
            { status: 'done', at: at(10_030), reason: null },
          ],
          attempts: [summaryOf(late), summaryOf(current)],
          lastAttempt: current,
          callback: null,
        })
      })

      it('keeps a late attempt as history without applying it when the task was requeued but not yet claimed', async () => {
        const task = await added()
        await claimed(task, at(10))
        await expireAt(at(10_000), 10)
        const late: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }

        await recordAt([finished(late)], at(10_020))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'new', attempts: 1, updatedAt: at(10_000) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'new', at: at(10_000), reason: null },
          ],
          attempts: [summaryOf(late)],
          lastAttempt: late,
          callback: null,
        })
      })

      it('changes nothing when an attempt is recorded a second time', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }
        await recordAt([finished(attempt)], at(30))
        const before = await tasks.findOwned(task.id, OWNER)

        await recordAt([finished({ ...attempt, outcome: failure })], at(40))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual(before)
        expect(before?.lastAttempt).toEqual(attempt)
      })
    })

    describe('retries', () => {
      it('reads back the retry policy it was given', async () => {
        const task = await added()

        expect((await tasks.findOwned(task.id, OWNER))?.task).toMatchObject({ retry, runAt: null })
      })

      it('moves the task to scheduled at runAt, with no outbox entry until it is due', async () => {
        const task = await added()
        await claimed(task, at(10))
        await drainAll()
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }

        await recordAt([{ attempt, next: { status: 'scheduled', delayMs: 4_970 } }], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'scheduled', attempts: 1, runAt: at(5_000), waitReason: 'retry', updatedAt: at(30) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'scheduled', at: at(30), reason: 'retry' },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
          callback: null,
        })
        expect(await drainAll()).toEqual([])
        expect(await claimAt(at(40), [task.id])).toEqual([]) // only new tasks are claimed
        expect(await expireAt(at(1_000_000), 10)).toEqual([]) // nor is a scheduled task stale
      })

      it('stores a task created scheduled without an outbox entry, and queues it once due', async () => {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          runAt: at(500),
          now: T0,
        })
        await tasks.add([task])

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task,
          history: [{ status: 'scheduled', at: T0, reason: 'not-before' }],
          attempts: [],
          lastAttempt: null,
          callback: null,
        })
        expect(await drainAll()).toEqual([])
        expect(await claimAt(at(600), [task.id])).toEqual([])

        expect(await promoteAt(at(500), 10)).toEqual([task.id])
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toEqual([
          { status: 'scheduled', at: T0, reason: 'not-before' },
          { status: 'new', at: at(500), reason: null },
        ])
      })

      it('promotes due tasks to new and queues them, earliest first, leaving the rest scheduled', async () => {
        const [late, early, waiting] = [await added(), await added(), await added()]
        await claimAt(at(10), [late.id, early.id, waiting.id])
        await drainAll()
        // Recorded at 20 ms: due at 2,000, 1,000 and 9,000 ms.
        const schedule = (task: Task, delayMs: number): AttemptResult => ({
          attempt: { taskId: task.id, n: 1, startedAt: at(11), outcome: failure },
          next: { status: 'scheduled', delayMs },
        })
        await recordAt([schedule(late, 1_980), schedule(early, 980), schedule(waiting, 8_980)], at(20))

        expect(await promoteAt(at(999), 10)).toEqual([])
        expect(await promoteAt(at(2_000), 1)).toEqual([early.id])
        expect(await promoteAt(at(2_000), 10)).toEqual([late.id])

        expect(await tasks.findOwned(early.id, OWNER)).toMatchObject({
          task: { status: 'new', runAt: null, attempts: 1, updatedAt: at(2_000) },
          history: [
            { status: 'new' },
            { status: 'in_process' },
            { status: 'scheduled' },
            { status: 'new', at: at(2_000), reason: null },
          ],
        })
        expect((await tasks.findOwned(waiting.id, OWNER))?.task).toMatchObject({
          status: 'scheduled',
          runAt: at(9_000),
          waitReason: 'retry',
        })
        expect((await drainAll()).map((e) => [e.kind, e.taskId])).toEqual([
          ['task.requested', early.id],
          ['task.requested', late.id],
        ])
      })

      it('lists every attempt of a retried task in order, the last one in full', async () => {
        const task = await added()
        const first: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: failure }
        const second: Attempt = { taskId: task.id, n: 2, startedAt: at(2_011), outcome: response }
        await claimed(task, at(10))
        await recordAt([{ attempt: first, next: { status: 'scheduled', delayMs: 980 } }], at(20))
        await promoteAt(at(1_000), 10)
        await claimed(task, at(2_010))

        await recordAt([{ attempt: second, next: { status: 'error' } }], at(2_030))

        expect(await tasks.findOwned(task.id, OWNER)).toMatchObject({
          task: { status: 'error', attempts: 2, runAt: null },
          attempts: [summaryOf(first), summaryOf(second)],
          lastAttempt: second,
          callback: null,
        })
        expect((await tasks.findOwned(task.id, OWNER))?.history.map((h) => h.status)).toEqual([
          'new',
          'in_process',
          'scheduled',
          'new',
          'in_process',
          'error',
        ])
      })
    })

    describe('dead letters and redrive', () => {
      async function failedFor(task: Task): Promise<Attempt> {
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: task.attempts + 1, startedAt: at(11), outcome: failure }
        await recordAt([finished(attempt)], at(30))
        return attempt
      }

      it('queues a dead letter with the last outcome when a task moves to error, in the same write', async () => {
        const task = await added()
        await drainAll()
        const attempt = await failedFor(task)

        expect(await drainAll()).toEqual([
          {
            id: expect.any(String),
            kind: 'task.dead-lettered',
            taskId: task.id,
            payload: deadLetterOf(attempt),
          },
        ])
      })

      it('queues no dead letter for a done or scheduled task, nor for a late error it does not apply', async () => {
        const [done, waiting, requeued] = [await added(), await added(), await added()]
        await claimed(requeued, at(10))
        await expireAt(at(5_000), 10)
        await claimAt(at(5_000), [done.id, waiting.id])
        await drainAll()

        await recordAt(
          [
            finished({ taskId: done.id, n: 1, startedAt: at(5_001), outcome: response }),
            {
              attempt: { taskId: waiting.id, n: 1, startedAt: at(5_001), outcome: failure },
              next: { status: 'scheduled', delayMs: 93_000 },
            },
            finished({ taskId: requeued.id, n: 1, startedAt: at(11), outcome: failure }), // late: not applied
          ],
          at(6_000),
        )

        expect(await drainAll()).toEqual([])
      })

      it('sends a task in error again with a fresh budget, keeping its history and attempts', async () => {
        const task = await added()
        const attempt = await failedFor(task)
        await drainAll()

        expect(await tasks.redrive(task.id, OWNER, at(50))).toBe('error')

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'new', attempts: 1, budgetFrom: 1, updatedAt: at(50) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'error', at: at(30), reason: null },
            { status: 'new', at: at(50), reason: null },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
          callback: null,
        })
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
        expect(await claimAt(at(60), [task.id])).toEqual([
          { ...task, status: 'in_process', attempts: 2, budgetFrom: 1, updatedAt: at(60) },
        ])
      })

      it('changes nothing and names the status found when the task is not in error, or twice in a row', async () => {
        const fresh = await added()
        const failed = await added()
        await failedFor(failed)
        await tasks.redrive(failed.id, OWNER, at(50))
        await drainAll()

        expect(await tasks.redrive(fresh.id, OWNER, at(60))).toBe('new')
        expect(await tasks.redrive(failed.id, OWNER, at(60))).toBe('new')
        expect((await tasks.findOwned(failed.id, OWNER))?.history).toHaveLength(4)
        expect(await drainAll()).toEqual([])
      })

      it('reads as absent for another key or an unknown id', async () => {
        const task = await added()
        await failedFor(task)

        expect(await tasks.redrive(task.id, 'key-2', at(50))).toBeNull()
        expect(await tasks.redrive(nextId(), OWNER, at(50))).toBeNull()
        expect((await tasks.findOwned(task.id, OWNER))?.task.status).toBe('error')
      })
    })

    describe('callbacks', () => {
      const target = (url: string): CallbackTarget => ({
        request: {
          method: 'POST',
          url,
          headers: [['content-type', 'application/json']],
          body: null,
          timeoutMs: 2_000,
        },
        flowKey: new URL(url).origin,
        retry: { ...retry, maxAttempts: 4 },
      })
      const onDone = target('https://hooks.test/done')
      const onError = target('https://hooks.test/failed')

      async function addedWith(callbacks: Callbacks, overrides: Partial<Parameters<typeof createTask>[0]> = {}) {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          callbacks,
          now: T0,
          ...overrides,
        })
        await tasks.add([task])
        await drainAll()
        return task
      }

      /** The callback task the outbox queued, claimed, with its document parsed. */
      async function queuedCallback(now: Date) {
        const queued = (await drainAll()).filter((e) => e.kind === 'task.requested')
        expect(queued).toHaveLength(1)
        const [callback] = await claimAt(now, [queued[0]!.taskId])
        if (!callback) throw new Error('the callback task could not be claimed')
        return { callback, document: JSON.parse(new TextDecoder().decode(callback.request.body!)) }
      }

      it('writes the callback task with the write that ends its task, queued, and shows its state on the task', async () => {
        const task = await addedWith({ done: onDone, error: onError })
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }
        const document = callbackDocument({ taskId: task.id, status: 'done', attemptCount: 1, attempt })
        await recordAt([{ attempt, next: { status: 'done' }, callback: document }], at(30))

        expect((await tasks.findOwned(task.id, OWNER))?.callback).toEqual({
          id: expect.any(String),
          status: 'new',
          attempts: 0,
        })
        const { callback, document: sent } = await queuedCallback(at(40))
        expect(callback).toMatchObject({
          kind: 'callback',
          parentId: task.id,
          ownerKeyId: OWNER,
          sign: true,
          flowKey: 'https://hooks.test',
          retry: onDone.retry,
          request: { method: 'POST', url: onDone.request.url, headers: onDone.request.headers, timeoutMs: 2_000 },
        })
        expect(sent).toEqual({ ...document, createdAt: T0.toISOString(), finishedAt: at(30).toISOString() })
        expect((await tasks.findOwned(task.id, OWNER))?.callback).toEqual({
          id: callback.id,
          status: 'in_process',
          attempts: 1,
        })
      })

      it('sends the error callback when the task gives up, and none for an end it has no callback for', async () => {
        const failing = await addedWith({ done: onDone, error: onError })
        const silent = await addedWith({ done: onDone, error: null })
        await claimAt(at(10), [failing.id, silent.id])
        const results = [failing, silent].map((t): AttemptResult => {
          const attempt: Attempt = { taskId: t.id, n: 1, startedAt: at(11), outcome: failure }
          const callback = callbackDocument({ taskId: t.id, status: 'error', attemptCount: 1, attempt })
          return { attempt, next: { status: 'error' }, ...(t === failing && { callback }) }
        })
        await recordAt(results, at(30))

        const { callback, document } = await queuedCallback(at(40))
        expect(callback.parentId).toBe(failing.id)
        expect(callback.request.url).toBe(onError.request.url)
        expect(document).toMatchObject({
          taskId: failing.id,
          status: 'error',
          lastAttempt: { error: { code: 'timeout' } },
        })
        expect((await tasks.findOwned(silent.id, OWNER))?.callback).toBeNull()
      })

      it('writes the callback of a task whose lease ran out with no attempts left', async () => {
        const task = await addedWith({ done: onDone, error: onError }, { retry: { ...retry, maxAttempts: 1 } })
        await claimed(task, at(10))
        await expireAt(at(10 + 1_000 + GRACE_MS + 1), 10)

        const { document } = await queuedCallback(at(5_000))
        expect(document).toMatchObject({
          type: 'task.finished',
          taskId: task.id,
          status: 'error',
          attemptCount: 1,
          lastAttempt: { n: 1, error: { code: 'interrupted', message: INTERRUPTED_MESSAGE } },
        })
      })
    })

    describe('deadlines', () => {
      const expiresAt = at(1_000)

      it('ends a task past its deadline in the claim, never claimed, with its dead letter and callback', async () => {
        const hook = {
          request: { method: 'POST' as const, url: 'https://hooks.test/x', headers: [], body: null, timeoutMs: 500 },
          flowKey: 'https://hooks.test',
          retry,
        }
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          expiresAt,
          callbacks: { done: hook, error: hook },
          now: T0,
        })
        const early = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          expiresAt: at(1_001),
          now: T0,
        })
        await tasks.add([task, early])
        await drainAll()

        clock.set(expiresAt)
        const result = await tasks.claim([task.id, early.id], LEASE, ANY_ROOM)

        expect(result.claimed.map((t) => t.id)).toEqual([early.id])
        expect(result.expired).toEqual([task.id])
        const view = await tasks.findOwned(task.id, OWNER)
        expect(view?.task).toMatchObject({ status: 'error', endCode: 'expired', attempts: 0 })
        expect(view?.history.map((h) => h.status)).toEqual(['new', 'error'])
        const entries = await drainAll()
        expect(entries.find((e) => e.kind === 'task.dead-lettered')?.payload).toEqual(
          expiredLetterOf(task.id, expiresAt, null, 0),
        )
        const callbackId = entries.find((e) => e.kind === 'task.requested')!.taskId
        const [callback] = await claimAt(at(1_100), [callbackId])
        expect(JSON.parse(new TextDecoder().decode(callback!.request.body!))).toMatchObject({
          taskId: task.id,
          status: 'error',
          attemptCount: 0,
          error: { code: 'expired' },
          lastAttempt: null,
        })
      })

      it('ends a task expired when its verdict says so, its dead letter naming the deadline', async () => {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          expiresAt,
          now: T0,
        })
        await tasks.add([task])
        await claimed(task, at(10))
        await drainAll()
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }
        await recordAt([{ attempt, next: { status: 'error', endCode: 'expired' } }], at(30))

        expect((await tasks.findOwned(task.id, OWNER))?.task).toMatchObject({ status: 'error', endCode: 'expired' })
        expect((await drainAll()).map((e) => e.kind === 'task.dead-lettered' && e.payload)).toEqual([
          expiredLetterOf(task.id, expiresAt, attempt, 1),
        ])
      })

      it('lifts the deadline when the owner redrives an expired task', async () => {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          expiresAt,
          now: T0,
        })
        await tasks.add([task])
        await claimAt(expiresAt, [task.id])

        expect(await tasks.redrive(task.id, OWNER, at(2_000))).toBe('error')
        expect((await tasks.findOwned(task.id, OWNER))?.task).toMatchObject({
          status: 'new',
          expiresAt: null,
          endCode: null,
        })
        expect(await claimAt(at(3_000), [task.id])).toHaveLength(1)
      })
    })

    describe('addOnce', () => {
      const claim = (key: string, bodyHash = 'hash-a', expiredBefore = at(-60_000)) => ({
        key,
        bodyHash,
        expiredBefore,
      })
      const fresh = (now = T0) =>
        createTask({ id: nextId(), ownerKeyId: OWNER, request: outboundRequest(), retry, now })

      it('stores the task and queues it when the key is free, like add', async () => {
        const task = fresh()

        expect(await tasks.addOnce(task, claim('order-7'))).toEqual({ created: true })
        expect((await tasks.findOwned(task.id, OWNER))?.task).toEqual(task)
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
      })

      it('stores nothing and names the holder when the key is held, whatever the body', async () => {
        const first = fresh()
        await tasks.addOnce(first, claim('order-7'))
        await drainAll()
        const second = fresh()

        expect(await tasks.addOnce(second, claim('order-7', 'hash-b'))).toEqual({
          created: false,
          taskId: first.id,
          bodyHash: 'hash-a',
        })
        expect(await tasks.findOwned(second.id, OWNER)).toBeNull()
        expect(await drainAll()).toEqual([])
      })

      it('keeps keys apart per owner', async () => {
        const mine = fresh()
        const theirs = createTask({ id: nextId(), ownerKeyId: 'key-2', request: outboundRequest(), retry, now: T0 })

        expect(await tasks.addOnce(mine, claim('same'))).toEqual({ created: true })
        expect(await tasks.addOnce(theirs, claim('same'))).toEqual({ created: true })
      })

      it('lets a key past its window name a new task', async () => {
        const old = fresh(T0)
        await tasks.addOnce(old, claim('order-7'))
        const later = fresh(at(100_000))

        expect(await tasks.addOnce(later, claim('order-7', 'hash-b', at(1)))).toEqual({ created: true })
        expect(await tasks.addOnce(fresh(at(100_001)), claim('order-7', 'hash-a', at(2)))).toEqual({
          created: false,
          taskId: later.id,
          bodyHash: 'hash-b',
        })
      })

      it('stores one task when two submissions with the same key race', async () => {
        const [a, b] = [fresh(), fresh()]

        const results = await Promise.all([tasks.addOnce(a, claim('race')), tasks.addOnce(b, claim('race'))])

        const winner = results[0]?.created ? a : b
        expect(results.filter((r) => r.created)).toHaveLength(1)
        expect(results.find((r) => !r.created)).toEqual({ created: false, taskId: winner.id, bodyHash: 'hash-a' })
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: winner.id }])
      })
    })

    describe('cancel', () => {
      it('cancels a new task, which no claim then takes', async () => {
        const task = await added()

        expect(await tasks.cancel(task.id, OWNER, at(5))).toBe('new')

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'cancelled', updatedAt: at(5) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'cancelled', at: at(5), reason: null },
          ],
          attempts: [],
          lastAttempt: null,
          callback: null,
        })
        expect(await claimAt(at(10), [task.id])).toEqual([])
      })

      it('cancels a scheduled task, which then never comes due', async () => {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest(),
          retry,
          runAt: at(100),
          now: T0,
        })
        await tasks.add([task])

        expect(await tasks.cancel(task.id, OWNER, at(5))).toBe('scheduled')

        expect((await tasks.findOwned(task.id, OWNER))?.task).toEqual({
          ...task,
          status: 'cancelled',
          runAt: null,
          waitReason: null,
          updatedAt: at(5),
        })
        expect(await promoteAt(at(1_000), 10)).toEqual([])
        expect(await drainAll()).toEqual([])
      })

      it('changes nothing and names the status found for a task being sent, finished or already cancelled', async () => {
        const [sending, cancelled] = [await added(), await added()]
        await claimed(sending, at(10))
        await tasks.cancel(cancelled.id, OWNER, at(10))

        expect(await tasks.cancel(sending.id, OWNER, at(20))).toBe('in_process')
        expect(await tasks.cancel(cancelled.id, OWNER, at(20))).toBe('cancelled')
        expect((await tasks.findOwned(sending.id, OWNER))?.task).toMatchObject({
          status: 'in_process',
          updatedAt: at(10),
        })
        expect((await tasks.findOwned(cancelled.id, OWNER))?.history).toHaveLength(2)
      })

      it('reads as absent for another key or an unknown id', async () => {
        const task = await added()

        expect(await tasks.cancel(task.id, 'key-2', at(5))).toBeNull()
        expect(await tasks.cancel(nextId(), OWNER, at(5))).toBeNull()
        expect((await tasks.findOwned(task.id, OWNER))?.task.status).toBe('new')
      })
    })

    describe('expireLeases', () => {
      it('puts tasks past their lease back to new and queues them again', async () => {
        const stale = await added({ timeoutMs: 1_000 })
        const running = await added({ timeoutMs: 5_000 })
        const waiting = await added()
        await claimAt(T0, [stale.id, running.id])
        await drainAll()

        expect(await expireAt(at(2_000), 10)).toEqual([stale.id])

        expect(await tasks.findOwned(stale.id, OWNER)).toEqual({
          task: { ...stale, status: 'new', attempts: 1, updatedAt: at(2_000) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: T0, reason: null },
            { status: 'new', at: at(2_000), reason: null },
          ],
          attempts: [],
          lastAttempt: null,
          callback: null,
        })
        expect((await tasks.findOwned(running.id, OWNER))?.task.status).toBe('in_process')
        expect((await tasks.findOwned(waiting.id, OWNER))?.task.status).toBe('new')
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: stale.id }])
      })

      it('takes at most `limit` tasks per call', async () => {
        const first = await added()
        const second = await added()
        await claimAt(T0, [first.id, second.id])

        const once = await expireAt(at(10_000), 1)
        const twice = await expireAt(at(10_000), 1)

        expect(once).toHaveLength(1)
        expect([...once, ...twice].sort()).toEqual([first.id, second.id].sort())
        expect(await expireAt(at(10_000), 1)).toEqual([])
      })

      it('leaves a finished task alone however late it is', async () => {
        const task = await added()
        await claimed(task, T0)
        await recordAt([finished({ taskId: task.id, n: 1, startedAt: T0, outcome: response })], at(10))

        expect(await expireAt(at(1_000_000), 10)).toEqual([])
      })
    })

    describe('expireLeases with no attempts left', () => {
      it('ends the task error with an interrupted attempt and a dead letter, instead of queueing it again', async () => {
        const task = createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: outboundRequest({ timeoutMs: 1_000 }),
          retry: { ...retry, maxAttempts: 2 },
          now: T0,
        })
        await tasks.add([task])
        // 1. Two claims whose tasker died each time: the first is sent again, the second used the last attempt.
        await claimAt(at(10), [task.id])
        expect(await expireAt(at(2_000), 10)).toEqual([task.id])
        await claimAt(at(2_010), [task.id])
        await drainAll()
        clock.set(at(4_000))
        expect(await tasks.expireLeases(10)).toEqual({ requeued: [], interrupted: [task.id] })

        // 2. It ends error; its last attempt says why, and the dead letter is the one deadLetterOf writes.
        const interrupted: Attempt = {
          taskId: task.id,
          n: 2,
          startedAt: at(2_010),
          outcome: {
            kind: 'failure',
            error: { code: 'interrupted', message: INTERRUPTED_MESSAGE },
            durationMs: 1_990,
          },
        }
        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, retry: { ...retry, maxAttempts: 2 }, status: 'error', attempts: 2, updatedAt: at(4_000) },
          history: [
            { status: 'new', at: T0, reason: null },
            { status: 'in_process', at: at(10), reason: null },
            { status: 'new', at: at(2_000), reason: null },
            { status: 'in_process', at: at(2_010), reason: null },
            { status: 'error', at: at(4_000), reason: null },
          ],
          attempts: [summaryOf(interrupted)],
          lastAttempt: interrupted,
          callback: null,
        })
        expect(await drainAll()).toEqual([
          { id: expect.any(String), kind: 'task.dead-lettered', taskId: task.id, payload: deadLetterOf(interrupted) },
        ])
      })
    })

    describe('renewLeases', () => {
      it('keeps a held attempt from expiring, and never extends one another claim took over', async () => {
        const [held, other] = [await added({ timeoutMs: 1_000 }), await added({ timeoutMs: 1_000 })]
        await claimAt(T0, [held.id, other.id]) // both leased until 1,500 ms

        clock.set(at(1_400))
        expect(await tasks.renewLeases([{ taskId: held.id, n: 1 }], GRACE_MS)).toBe(1) // now until 1,900 ms
        expect(await expireAt(at(1_600), 10)).toEqual([other.id])
        expect(await expireAt(at(1_900), 10)).toEqual([])
        expect(await expireAt(at(1_901), 10)).toEqual([held.id])

        // A renewal of attempt 1 after the task was claimed again (attempt 2) changes nothing.
        await claimAt(at(2_000), [held.id])
        clock.set(at(3_400))
        expect(await tasks.renewLeases([{ taskId: held.id, n: 1 }], 10_000)).toBe(0)
        expect(await expireAt(at(3_501), 10)).toEqual([held.id])
      })

      it('never shortens a lease that still covers a running send', async () => {
        const task = await added({ timeoutMs: 5_000 })
        await claimAt(T0, [task.id]) // leased until 5,500 ms

        clock.set(at(100))
        expect(await tasks.renewLeases([{ taskId: task.id, n: 1 }], GRACE_MS)).toBe(1)
        expect(await expireAt(at(5_500), 10)).toEqual([])
      })
    })

    describe("claim within each key's room", () => {
      it('claims the oldest tasks of each key up to its room, and lets the rest wait key-busy with no attempt spent', async () => {
        const mine = [await added(), await added(), await added()]
        const theirs = createTask({ id: nextId(), ownerKeyId: 'key-2', request: outboundRequest(), retry, now: T0 })
        await tasks.add([theirs])
        await drainAll()

        clock.set(at(10))
        const room = { byOwner: new Map([[OWNER, 1]]), others: 5 }
        const { claimed, deferred } = await tasks.claim([mine[2]!.id, theirs.id, mine[0]!.id, mine[1]!.id], LEASE, room)

        expect(claimed.map((t) => t.id).sort()).toEqual([mine[0]!.id, theirs.id].sort())
        expect([...deferred].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
          { id: mine[1]!.id, ownerKeyId: OWNER, reason: 'key-busy' },
          { id: mine[2]!.id, ownerKeyId: OWNER, reason: 'key-busy' },
        ])
        expect(await tasks.findOwned(mine[1]!.id, OWNER)).toMatchObject({
          task: { status: 'scheduled', attempts: 0, waitReason: 'key-busy', runAt: at(10 + LEASE.keyBusyWaitMs) },
          history: [
            { status: 'new', reason: null },
            { status: 'scheduled', at: at(10), reason: 'key-busy' },
          ],
        })
        expect(await drainAll()).toEqual([])
      })

      it("wakes a key's waiting tasks oldest first, back to new and queued, and leaves other keys' waiting", async () => {
        const mine = [await added(), await added(), await added()]
        const theirs = createTask({ id: nextId(), ownerKeyId: 'key-2', request: outboundRequest(), retry, now: T0 })
        await tasks.add([theirs])
        const none = {
          byOwner: new Map([
            [OWNER, 0],
            ['key-2', 0],
          ]),
          others: 0,
        }
        clock.set(at(10))
        await tasks.claim([...mine.map((t) => t.id), theirs.id], LEASE, none)
        await drainAll()

        clock.set(at(20))
        expect(await tasks.wakeKeyBusy(OWNER, 2)).toEqual([mine[0]!.id, mine[1]!.id])
        expect(await tasks.wakeKeyBusy(OWNER, 2)).toEqual([mine[2]!.id])
        expect(await tasks.wakeKeyBusy(OWNER, 2)).toEqual([])

        expect((await drainAll()).map((e) => e.taskId)).toEqual(mine.map((t) => t.id))
        expect((await tasks.findOwned(mine[0]!.id, OWNER))?.task).toMatchObject({
          status: 'new',
          runAt: null,
          waitReason: null,
          attempts: 0,
        })
        expect((await tasks.findOwned(theirs.id, 'key-2'))?.task.status).toBe('scheduled')
        // The wait runs out by itself too: the scheduler takes a key-busy task once it is due.
        expect(await promoteAt(at(10 + LEASE.keyBusyWaitMs), 10)).toEqual([theirs.id])
      })
    })

    describe('requeueLost', () => {
      it('queues again a task long new whose outbox entry is gone, once per period', async () => {
        const [lost, young, queued] = [await added(), await added(), await added()]
        const published = await drainAll() // the relay published all three; their messages are then lost
        expect(published).toHaveLength(3)
        await tasks.cancel(young.id, OWNER, T0) // a task no longer new is never requeued
        clock.set(at(10))
        await tasks.claim([queued.id], LEASE, ANY_ROOM)

        clock.set(at(59_999))
        expect(await tasks.requeueLost(60_000, 10)).toEqual([])
        clock.set(at(60_001))
        expect(await tasks.requeueLost(60_000, 10)).toEqual([lost.id])
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: lost.id }])
        // Queued again, it waits another period before it counts as lost a second time.
        clock.set(at(120_000))
        expect(await tasks.requeueLost(60_000, 10)).toEqual([])
        expect((await tasks.findOwned(lost.id, OWNER))?.task).toMatchObject({ status: 'new', updatedAt: at(60_001) })
      })

      it('leaves alone a task whose outbox entry still waits for the relay', async () => {
        const task = await added()

        clock.set(at(120_000))
        expect(await tasks.requeueLost(60_000, 10)).toEqual([])
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
      })
    })

    describe('flow control', () => {
      const HOST = 'https://example.test'
      const flow = { parallelism: 2, breaker: { failures: 3, coolDownMs: 10_000 }, waitMs: 30_000 }
      const policy = { ...LEASE, flow }
      const claimWithFlow = async (now: Date, ids: TaskId[]) => {
        clock.set(now)
        return tasks.claim(ids, policy, ANY_ROOM)
      }

      it('holds a key to its parallelism over every claim, and a send that ends wakes one task waiting for a slot', async () => {
        const [a, b, c, d] = [await added(), await added(), await added(), await added()]
        await drainAll()

        // 1. The default parallelism of 2: two go, two wait for a slot, no attempt spent, nothing queued.
        const first = await claimWithFlow(at(10), [a.id, b.id, c.id, d.id])
        expect(first.claimed.map((t) => t.id)).toEqual([a.id, b.id])
        expect(first.deferred.map((h) => [h.id, h.reason])).toEqual([
          [c.id, 'parallelism'],
          [d.id, 'parallelism'],
        ])
        expect(await tasks.findOwned(c.id, OWNER)).toMatchObject({
          task: { status: 'scheduled', waitReason: 'parallelism', attempts: 0, runAt: at(30_010) },
        })
        expect(await drainAll()).toEqual([])
        // 2. One send ends: one waiting task, the oldest, is queued again.
        clock.set(at(50))
        expect(await tasks.observe([{ ownerKeyId: OWNER, flowKey: HOST, signal: { kind: 'ok' } }], flow)).toEqual({
          changes: [],
          woken: 1,
        })
        expect((await drainAll()).map((e) => e.taskId)).toEqual([c.id])
        // 3. Its claim still counts the key's other send in flight (b): with a finishing, there is room for it.
        await recordAt([finished({ taskId: a.id, n: 1, startedAt: at(11), outcome: response })], at(60))
        expect((await claimWithFlow(at(70), [c.id])).claimed.map((t) => t.id)).toEqual([c.id])
      })

      it("gives a rate-limited key's tasks one place each in its queue, and lets each go when back at it", async () => {
        await flowControls.put(OWNER, HOST, { rate: 2, periodMs: 1000, burst: null, parallelism: 10 })
        const [a, b, c] = [await added(), await added(), await added()]
        // A held task comes back SEND_AHEAD_MS / 2 before its place, to be timed then.
        const back = (placeMs: number) => at(placeMs - SEND_AHEAD_MS / 2)

        // 1. One token: a goes; b and c get the places of the next tokens, 500 ms apart.
        const { claimed, deferred } = await claimWithFlow(at(10), [a.id, b.id, c.id])
        expect(claimed.map((t) => t.id)).toEqual([a.id])
        expect(deferred).toHaveLength(2)
        expect((await tasks.findOwned(b.id, OWNER))?.task).toMatchObject({
          waitReason: 'rate-limited',
          runAt: back(510),
        })
        expect((await tasks.findOwned(c.id, OWNER))?.task).toMatchObject({
          waitReason: 'rate-limited',
          runAt: back(1010),
        })
        // 2. A later claim's task queues behind them, and the store says when the first of them is due.
        const d = await added()
        await claimWithFlow(at(20), [d.id])
        expect((await tasks.findOwned(d.id, OWNER))?.task.runAt).toEqual(back(1510))
        clock.set(at(20))
        expect(await tasks.nextDueInMs()).toBe(back(510).getTime() - at(20).getTime())
        // 3. Back before its place, b goes, timed to its token, ahead of a newcomer, who queues behind d.
        expect(await promoteAt(back(510), 10)).toEqual([b.id])
        const e = await added()
        const again = await claimWithFlow(back(510), [b.id, e.id])
        expect(again.claimed.map((t) => t.id)).toEqual([b.id])
        expect(again.sendDelays?.get(b.id)).toBe(SEND_AHEAD_MS / 2)
        expect((await tasks.findOwned(e.id, OWNER))?.task.runAt).toEqual(back(2010))
      })

      it('holds every task of a paused key, and a resume makes them due at once', async () => {
        await flowControls.setPaused(OWNER, HOST, true)
        const [a, b] = [await added(), await added()]

        const { claimed } = await claimWithFlow(at(10), [a.id, b.id])
        expect(claimed).toEqual([])
        expect(await flowControls.get(OWNER, HOST)).toMatchObject({
          paused: true,
          waiting: { paused: 2, parallelism: 0, 'rate-limited': 0, 'circuit-open': 0 },
        })

        clock.set(at(20))
        await flowControls.setPaused(OWNER, HOST, false)
        expect(await promoteAt(at(100_000), 10)).toEqual([a.id, b.id])
      })

      it("opens a key's circuit after a run of failures, holding its tasks for the cool-down", async () => {
        const failed = { kind: 'failed' } as const
        clock.set(at(10))
        const { changes } = await tasks.observe(
          [1, 2, 3].map(() => ({ ownerKeyId: OWNER, flowKey: HOST, signal: failed })),
          flow,
        )
        expect(changes).toEqual([{ ownerKeyId: OWNER, key: HOST, circuit: 'open' }])
        const task = await added()

        expect((await claimWithFlow(at(20), [task.id])).deferred).toEqual([
          { id: task.id, ownerKeyId: OWNER, reason: 'circuit-open' },
        ])
        expect((await tasks.findOwned(task.id, OWNER))?.task.runAt).toEqual(at(10_010))
        expect(await flowControls.get(OWNER, HOST)).toMatchObject({
          circuit: { state: 'open', failures: 3, until: at(10_010) },
          lastMinute: { failures: 3 },
        })
      })

      it("keeps keys apart per owner, and lists, reads and forgets an owner's keys", async () => {
        await flowControls.put(OWNER, 'b-key', { rate: 5, periodMs: 1000, burst: 2, parallelism: null })
        await flowControls.put(OWNER, 'a-key', { rate: null, periodMs: 1000, burst: null, parallelism: 3 })
        await flowControls.put('key-2', 'a-key', { rate: 1, periodMs: 1000, burst: null, parallelism: null })

        const page = await flowControls.list(OWNER, null, 1)
        expect(page.items.map((k) => [k.key, k.limits.parallelism])).toEqual([['a-key', 3]])
        expect(page.next).toBe('a-key')
        expect((await flowControls.list(OWNER, page.next, 10)).items.map((k) => k.key)).toEqual(['b-key'])
        expect((await flowControls.get('key-2', 'a-key'))?.limits.rate).toBe(1)

        expect(await flowControls.remove(OWNER, 'a-key')).toBe(true)
        expect(await flowControls.remove(OWNER, 'a-key')).toBe(false)
        expect(await flowControls.get(OWNER, 'a-key')).toBeNull()
        expect(await flowControls.get('key-2', 'a-key')).not.toBeNull()
      })
    })

    describe('drain', () => {
      it('keeps the entries when publish rejects, and hands the same ones out again', async () => {
        await added()
        await added()
        const offered: OutboxEntry[] = []

        await expect(
          outbox.drain(10, async (batch) => {
            offered.push(...batch)
            throw new Error('broker down')
          }),
        ).rejects.toThrow('broker down')

        expect(offered).toHaveLength(2)
        expect(await drainAll()).toEqual(offered)
      })

      it('deletes the entries once publish resolves', async () => {
        await added()
        await added()
        let calls = 0

        expect(await outbox.drain(10, async () => {})).toBe(2)
        expect(
          await outbox.drain(10, async () => {
            calls++
          }),
        ).toBe(0)
        expect(calls).toBe(0)
      })

      it('hands out at most `limit` entries, oldest first', async () => {
        const [a, b, c] = [await added(), await added(), await added()]
        const batches: string[][] = []
        const publish = async (batch: readonly OutboxEntry[]) => {
          batches.push(batch.map((e) => e.taskId))
        }

        expect(await outbox.drain(2, publish)).toBe(2)
        expect(await outbox.drain(2, publish)).toBe(1)
        expect(batches).toEqual([[a.id, b.id], [c.id]])
      })

      it('never hands the same entry to two drains running at once', async () => {
        const [a, b, c] = [await added(), await added(), await added()]
        let entered!: () => void
        let release!: () => void
        const inPublish = new Promise<void>((resolve) => {
          entered = resolve
        })
        const held = new Promise<void>((resolve) => {
          release = resolve
        })
        const first: string[] = []
        const second: string[] = []

        // 1. The first drain takes two entries and stays inside publish.
        const slow = outbox.drain(2, async (batch) => {
          first.push(...batch.map((e) => e.taskId))
          entered()
          await held
        })
        await inPublish
        // 2. A second drain meanwhile gets only what the first does not hold.
        expect(
          await outbox.drain(10, async (batch) => {
            second.push(...batch.map((e) => e.taskId))
          }),
        ).toBe(1)
        // 3. The first then finishes, and nothing is left.
        release()
        expect(await slow).toBe(2)

        expect({ first, second }).toEqual({ first: [a.id, b.id], second: [c.id] })
        expect(await drainAll()).toEqual([])
      })
    })
  })
}
