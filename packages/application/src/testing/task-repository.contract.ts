import {
  type Attempt,
  createTask,
  DEFAULT_RETRY_ON,
  type OutboundRequest,
  type RetryPolicy,
  type SendOutcome,
  type Task,
} from '@request-tasker/domain'
import { beforeEach, describe, expect, it } from 'vitest'
import { deadLetterOf } from '../dead-letter.js'
import type { Outbox, OutboxEntry } from '../ports/outbox.js'
import type { AttemptResult, AttemptSummary, TaskRepository } from '../ports/task-repository.js'
import { sequentialIds } from './fakes.js'

/** A fresh, empty store for each test. */
export type OpenStore = () => Promise<{ tasks: TaskRepository; outbox: Outbox }>

const T0 = new Date('2026-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const OWNER = 'key-1'
const GRACE_MS = 500

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
    let nextId: ReturnType<typeof sequentialIds>

    beforeEach(async () => {
      ;({ tasks, outbox } = await open())
      nextId = sequentialIds()
    })

    async function added(overrides: Partial<OutboundRequest> = {}): Promise<Task> {
      const task = createTask({ id: nextId(), ownerKeyId: OWNER, request: outboundRequest(overrides), retry, now: T0 })
      await tasks.add(task)
      return task
    }

    async function claimed(task: Task, now = T0): Promise<Task> {
      const [claim] = await tasks.claim([task.id], now, GRACE_MS)
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
          history: [{ status: 'new', at: T0 }],
          attempts: [],
          lastAttempt: null,
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

      it('rejects a second task with the same id and keeps the first untouched', async () => {
        const task = await added()
        const twin = { ...task, request: outboundRequest({ url: 'https://other.test/' }) }

        await expect(tasks.add(twin)).rejects.toThrow()
        expect((await tasks.findOwned(task.id, OWNER))?.task).toEqual(task)
        expect(await drainAll()).toHaveLength(1)
      })
    })

    describe('claim', () => {
      it('moves a new task to in_process and counts the attempt when claimed', async () => {
        const task = await added()

        expect(await tasks.claim([task.id], at(10), GRACE_MS)).toEqual([
          { ...task, status: 'in_process', attempts: 1, updatedAt: at(10) },
        ])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toEqual([
          { status: 'new', at: T0 },
          { status: 'in_process', at: at(10) },
        ])
      })

      it('returns nothing when the task was already claimed, so a redelivery sends nothing', async () => {
        const task = await added()
        await claimed(task, at(10))

        expect(await tasks.claim([task.id], at(20), GRACE_MS)).toEqual([])
        expect(await tasks.findOwned(task.id, OWNER)).toMatchObject({
          task: { status: 'in_process', attempts: 1, updatedAt: at(10) },
          history: [{ status: 'new' }, { status: 'in_process' }],
        })
      })

      it('ignores finished tasks and unknown ids', async () => {
        const task = await added()
        await claimed(task)
        await tasks.recordAttempts([finished({ taskId: task.id, n: 1, startedAt: T0, outcome: response })], at(20))

        expect(await tasks.claim([task.id, nextId()], at(30), GRACE_MS)).toEqual([])
        expect((await tasks.findOwned(task.id, OWNER))?.task).toMatchObject({ status: 'done', attempts: 1 })
      })

      it('claims a task once when its id comes twice in one call', async () => {
        const task = await added()

        expect(await tasks.claim([task.id, task.id], at(10), GRACE_MS)).toEqual([
          { ...task, status: 'in_process', attempts: 1, updatedAt: at(10) },
        ])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toHaveLength(2)
      })

      it('leases the task for its timeout plus the grace', async () => {
        const task = await added({ timeoutMs: 1_000 })
        await claimed(task, T0)

        expect(await tasks.requeueStale(at(1_000 + GRACE_MS), 10)).toEqual([])
        expect(await tasks.requeueStale(at(1_000 + GRACE_MS + 1), 10)).toEqual([task.id])
      })
    })

    describe('recordAttempts', () => {
      it('stores a response and moves the task to done', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }

        await tasks.recordAttempts([finished(attempt)], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'done', attempts: 1, updatedAt: at(30) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'done', at: at(30) },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
        })
      })

      it('stores a failure and moves the task to error', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: failure }

        await tasks.recordAttempts([finished(attempt)], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'error', attempts: 1, updatedAt: at(30) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'error', at: at(30) },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
        })
      })

      it('records a batch of attempts for several tasks in one call', async () => {
        const done = await added()
        const failed = await added()
        await tasks.claim([done.id, failed.id], at(10), GRACE_MS)

        await tasks.recordAttempts(
          [
            finished({ taskId: done.id, n: 1, startedAt: at(11), outcome: response }),
            finished({ taskId: failed.id, n: 1, startedAt: at(11), outcome: failure }),
          ],
          at(30),
        )
        await tasks.recordAttempts([], at(40))

        expect((await tasks.findOwned(done.id, OWNER))?.task).toMatchObject({ status: 'done', updatedAt: at(30) })
        expect((await tasks.findOwned(failed.id, OWNER))?.task).toMatchObject({ status: 'error', updatedAt: at(30) })
      })

      it('keeps a late attempt as history without applying it when the task was requeued and claimed again', async () => {
        const task = await added()
        await claimed(task, at(10))
        await tasks.requeueStale(at(10_000), 10)
        await claimed(task, at(10_010))
        const late: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: failure }
        const current: Attempt = { taskId: task.id, n: 2, startedAt: at(10_011), outcome: response }

        await tasks.recordAttempts([finished(late)], at(10_020))
        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'in_process', attempts: 2, updatedAt: at(10_010) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'new', at: at(10_000) },
            { status: 'in_process', at: at(10_010) },
          ],
          attempts: [summaryOf(late)],
          lastAttempt: late,
        })

        await tasks.recordAttempts([finished(current)], at(10_030))
        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'done', attempts: 2, updatedAt: at(10_030) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'new', at: at(10_000) },
            { status: 'in_process', at: at(10_010) },
            { status: 'done', at: at(10_030) },
          ],
          attempts: [summaryOf(late), summaryOf(current)],
          lastAttempt: current,
        })
      })

      it('keeps a late attempt as history without applying it when the task was requeued but not yet claimed', async () => {
        const task = await added()
        await claimed(task, at(10))
        await tasks.requeueStale(at(10_000), 10)
        const late: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }

        await tasks.recordAttempts([finished(late)], at(10_020))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'new', attempts: 1, updatedAt: at(10_000) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'new', at: at(10_000) },
          ],
          attempts: [summaryOf(late)],
          lastAttempt: late,
        })
      })

      it('changes nothing when an attempt is recorded a second time', async () => {
        const task = await added()
        await claimed(task, at(10))
        const attempt: Attempt = { taskId: task.id, n: 1, startedAt: at(11), outcome: response }
        await tasks.recordAttempts([finished(attempt)], at(30))
        const before = await tasks.findOwned(task.id, OWNER)

        await tasks.recordAttempts([finished({ ...attempt, outcome: failure })], at(40))

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

        await tasks.recordAttempts([{ attempt, next: { status: 'scheduled', runAt: at(5_000) } }], at(30))

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task: { ...task, status: 'scheduled', attempts: 1, runAt: at(5_000), updatedAt: at(30) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'scheduled', at: at(30) },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
        })
        expect(await drainAll()).toEqual([])
        expect(await tasks.claim([task.id], at(40), GRACE_MS)).toEqual([]) // only new tasks are claimed
        expect(await tasks.requeueStale(at(1_000_000), 10)).toEqual([]) // nor is a scheduled task stale
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
        await tasks.add(task)

        expect(await tasks.findOwned(task.id, OWNER)).toEqual({
          task,
          history: [{ status: 'scheduled', at: T0 }],
          attempts: [],
          lastAttempt: null,
        })
        expect(await drainAll()).toEqual([])
        expect(await tasks.claim([task.id], at(600), GRACE_MS)).toEqual([])

        expect(await tasks.promoteDue(at(500), 10)).toEqual([task.id])
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
        expect((await tasks.findOwned(task.id, OWNER))?.history).toEqual([
          { status: 'scheduled', at: T0 },
          { status: 'new', at: at(500) },
        ])
      })

      it('promotes due tasks to new and queues them, earliest first, leaving the rest scheduled', async () => {
        const [late, early, waiting] = [await added(), await added(), await added()]
        await tasks.claim([late.id, early.id, waiting.id], at(10), GRACE_MS)
        await drainAll()
        const schedule = (task: Task, runAt: Date): AttemptResult => ({
          attempt: { taskId: task.id, n: 1, startedAt: at(11), outcome: failure },
          next: { status: 'scheduled', runAt },
        })
        await tasks.recordAttempts(
          [schedule(late, at(2_000)), schedule(early, at(1_000)), schedule(waiting, at(9_000))],
          at(20),
        )

        expect(await tasks.promoteDue(at(999), 10)).toEqual([])
        expect(await tasks.promoteDue(at(2_000), 1)).toEqual([early.id])
        expect(await tasks.promoteDue(at(2_000), 10)).toEqual([late.id])

        expect(await tasks.findOwned(early.id, OWNER)).toMatchObject({
          task: { status: 'new', runAt: null, attempts: 1, updatedAt: at(2_000) },
          history: [
            { status: 'new' },
            { status: 'in_process' },
            { status: 'scheduled' },
            { status: 'new', at: at(2_000) },
          ],
        })
        expect((await tasks.findOwned(waiting.id, OWNER))?.task).toMatchObject({
          status: 'scheduled',
          runAt: at(9_000),
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
        await tasks.recordAttempts([{ attempt: first, next: { status: 'scheduled', runAt: at(1_000) } }], at(20))
        await tasks.promoteDue(at(1_000), 10)
        await claimed(task, at(2_010))

        await tasks.recordAttempts([{ attempt: second, next: { status: 'error' } }], at(2_030))

        expect(await tasks.findOwned(task.id, OWNER)).toMatchObject({
          task: { status: 'error', attempts: 2, runAt: null },
          attempts: [summaryOf(first), summaryOf(second)],
          lastAttempt: second,
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
        await tasks.recordAttempts([finished(attempt)], at(30))
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
        await tasks.requeueStale(at(5_000), 10)
        await tasks.claim([done.id, waiting.id], at(5_000), GRACE_MS)
        await drainAll()

        await tasks.recordAttempts(
          [
            finished({ taskId: done.id, n: 1, startedAt: at(5_001), outcome: response }),
            {
              attempt: { taskId: waiting.id, n: 1, startedAt: at(5_001), outcome: failure },
              next: { status: 'scheduled', runAt: at(99_000) },
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
            { status: 'new', at: T0 },
            { status: 'in_process', at: at(10) },
            { status: 'error', at: at(30) },
            { status: 'new', at: at(50) },
          ],
          attempts: [summaryOf(attempt)],
          lastAttempt: attempt,
        })
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: task.id }])
        expect(await tasks.claim([task.id], at(60), GRACE_MS)).toEqual([
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
            { status: 'new', at: T0 },
            { status: 'cancelled', at: at(5) },
          ],
          attempts: [],
          lastAttempt: null,
        })
        expect(await tasks.claim([task.id], at(10), GRACE_MS)).toEqual([])
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
        await tasks.add(task)

        expect(await tasks.cancel(task.id, OWNER, at(5))).toBe('scheduled')

        expect((await tasks.findOwned(task.id, OWNER))?.task).toEqual({
          ...task,
          status: 'cancelled',
          runAt: null,
          updatedAt: at(5),
        })
        expect(await tasks.promoteDue(at(1_000), 10)).toEqual([])
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

    describe('requeueStale', () => {
      it('puts tasks past their lease back to new and queues them again', async () => {
        const stale = await added({ timeoutMs: 1_000 })
        const running = await added({ timeoutMs: 5_000 })
        const waiting = await added()
        await tasks.claim([stale.id, running.id], T0, GRACE_MS)
        await drainAll()

        expect(await tasks.requeueStale(at(2_000), 10)).toEqual([stale.id])

        expect(await tasks.findOwned(stale.id, OWNER)).toEqual({
          task: { ...stale, status: 'new', attempts: 1, updatedAt: at(2_000) },
          history: [
            { status: 'new', at: T0 },
            { status: 'in_process', at: T0 },
            { status: 'new', at: at(2_000) },
          ],
          attempts: [],
          lastAttempt: null,
        })
        expect((await tasks.findOwned(running.id, OWNER))?.task.status).toBe('in_process')
        expect((await tasks.findOwned(waiting.id, OWNER))?.task.status).toBe('new')
        expect(await drainAll()).toEqual([{ id: expect.any(String), kind: 'task.requested', taskId: stale.id }])
      })

      it('takes at most `limit` tasks per call', async () => {
        const first = await added()
        const second = await added()
        await tasks.claim([first.id, second.id], T0, GRACE_MS)

        const once = await tasks.requeueStale(at(10_000), 1)
        const twice = await tasks.requeueStale(at(10_000), 1)

        expect(once).toHaveLength(1)
        expect([...once, ...twice].sort()).toEqual([first.id, second.id].sort())
        expect(await tasks.requeueStale(at(10_000), 1)).toEqual([])
      })

      it('leaves a finished task alone however late it is', async () => {
        const task = await added()
        await claimed(task, T0)
        await tasks.recordAttempts([finished({ taskId: task.id, n: 1, startedAt: T0, outcome: response })], at(10))

        expect(await tasks.requeueStale(at(1_000_000), 10)).toEqual([])
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
