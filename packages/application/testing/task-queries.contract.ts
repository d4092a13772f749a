import {
  createTask,
  DEFAULT_RETRY_ON,
  type OutboundRequest,
  type SendOutcome,
  type Task,
  type TaskId,
} from '@request-tasker/domain'
import { beforeEach, describe, expect, it } from 'vitest'
import type { BatchStore } from '../src/ports/batch-store.js'
import type { BulkChanges } from '../src/ports/bulk-changes.js'
import type { IdempotencyKeys } from '../src/ports/idempotency-keys.js'
import type { Outbox, OutboxEntry } from '../src/ports/outbox.js'
import type { TaskList } from '../src/ports/task-list.js'
import type { TaskRepository } from '../src/ports/task-repository.js'
import type { TaskViews } from '../src/ports/task-views.js'
import { manualClock, roomyFlow, sequentialIds } from './fakes.js'

/** A fresh, empty store for each test, with every port the list, bulk and batch routes use. */
export type OpenQueryStore = (clock: () => Date) => Promise<{
  tasks: TaskRepository
  outbox: Outbox
  list: TaskList
  bulk: BulkChanges
  batches: BatchStore
  keys: IdempotencyKeys
  views: TaskViews
}>

const T0 = new Date('2026-03-01T00:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const OWNER = 'key-1'
const OTHER = 'key-2'
const retry = { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
const LEASE = { leaseGraceMs: 1_000, keyBusyWaitMs: 60_000, flow: roomyFlow }
const ROOM = { byOwner: new Map<string, number>(), others: 1_000 }

function request(url: string, body: Uint8Array | null = null): OutboundRequest {
  return { method: 'POST', url, headers: [['x-n', '1']], body, timeoutMs: 1_000 }
}

/**
 * The promises of TaskList, BulkChanges, BatchStore and IdempotencyKeys.findHolders, run against Postgres and the
 * in-memory fake alike, so the route tests that trust the fake see what Postgres does.
 */
export function describeTaskQueriesContract(name: string, open: OpenQueryStore): void {
  describe(`${name} keeps the list, bulk and batch contract`, () => {
    let store: Awaited<ReturnType<OpenQueryStore>>
    let nextId: () => TaskId
    const clock = manualClock(T0)

    beforeEach(async () => {
      clock.set(T0)
      store = await open(clock.now)
      nextId = sequentialIds()
    })

    async function added(createdAtMs: number, url = 'https://a.example/x', owner = OWNER, runAt?: Date) {
      const task = createTask({
        id: nextId(),
        ownerKeyId: owner,
        request: request(url),
        retry,
        now: at(createdAtMs),
        ...(runAt && { runAt }),
      })
      await store.tasks.add([task])
      return task
    }

    async function finished(task: Task, outcome: SendOutcome, status: 'done' | 'error') {
      clock.set(at(100_000))
      const [claimed] = (await store.tasks.claim([task.id], LEASE, ROOM)).claimed
      if (!claimed) throw new Error('not claimed')
      await store.tasks.recordAttempts([
        { attempt: { taskId: task.id, n: 1, startedAt: at(100_000), outcome }, next: { status } },
      ])
    }

    async function allPages(limit: number, filter = {}) {
      const ids: TaskId[] = []
      let after = null
      for (let pages = 0; pages < 100; pages++) {
        const page: Awaited<ReturnType<TaskList['page']>> = await store.list.page(OWNER, filter, after, limit)
        ids.push(...page.items.map((t) => t.id))
        if (!page.next) return { ids, pages: pages + 1 }
        after = page.next
      }
      throw new Error('pages never ended')
    }

    async function drained(): Promise<OutboxEntry[]> {
      const entries: OutboxEntry[] = []
      await store.outbox.drain(10_000, async (batch) => {
        entries.push(...batch)
      })
      return entries
    }

    it("reads many tasks at once as findOwned reads each, another key's as null", async () => {
      const a = await added(0)
      const b = await added(1)
      const theirs = await added(2, 'https://a.example/x', OTHER)
      await finished(a, responseOf(200), 'done')
      const views = await store.views.findOwnedMany([
        { id: b.id, ownerKeyId: OWNER },
        { id: theirs.id, ownerKeyId: OWNER },
        { id: a.id, ownerKeyId: OWNER },
        { id: a.id, ownerKeyId: OWNER },
      ])
      expect(views).toEqual([
        await store.tasks.findOwned(b.id, OWNER),
        null,
        await store.tasks.findOwned(a.id, OWNER),
        await store.tasks.findOwned(a.id, OWNER),
      ])
      expect(views[2]?.lastAttempt?.outcome).toMatchObject({ kind: 'response', httpStatusCode: 200 })
    })

    it('lists newest first and pages through every task once, ties on createdAt broken by id', async () => {
      const tasks = []
      for (let i = 0; i < 10; i++) tasks.push(await added(Math.floor(i / 3) * 1_000)) // three share each instant
      const expected = [...tasks].reverse().map((t) => t.id)
      expect((await allPages(100)).ids).toEqual(expected)
      expect(await allPages(3)).toEqual({ ids: expected, pages: 4 })
      expect(await allPages(5)).toEqual({ ids: expected, pages: 2 })
    })

    it('shows each task in short, with its last outcome once finished', async () => {
      const ok = await added(0, 'https://api.example.com:8443/a?b=1')
      const failed = await added(1)
      const waiting = await added(2, 'https://a.example/x', OWNER, at(60_000))
      await finished(ok, { ...responseOf(201) }, 'done')
      await finished(
        failed,
        { kind: 'failure', error: { code: 'dns', message: 'no such host' }, durationMs: 3 },
        'error',
      )

      const { items } = await store.list.page(OWNER, {}, null, 10)

      expect(items).toEqual([
        {
          id: waiting.id,
          status: 'scheduled',
          method: 'POST',
          url: 'https://a.example/x',
          destination: 'a.example',
          createdAt: at(2),
          updatedAt: at(2),
          attemptCount: 0,
          runAt: at(60_000),
          waitReason: 'not-before',
          outcome: null,
          endCode: null,
        },
        expect.objectContaining({
          id: failed.id,
          status: 'error',
          attemptCount: 1,
          outcome: { error: { code: 'dns', message: 'no such host' } },
        }),
        expect.objectContaining({
          id: ok.id,
          status: 'done',
          destination: 'api.example.com:8443',
          outcome: { httpStatusCode: 201 },
          runAt: null,
          waitReason: null,
        }),
      ])
    })

    it('shows a task its deadline ended, never sent, with the end code', async () => {
      const task = createTask({
        id: nextId(),
        ownerKeyId: OWNER,
        request: request('https://a.example/x'),
        retry,
        now: at(0),
        expiresAt: at(1_000),
      })
      await store.tasks.add([task])
      clock.set(at(100_000))
      expect((await store.tasks.claim([task.id], LEASE, ROOM)).expired).toEqual([task.id])

      const { items } = await store.list.page(OWNER, {}, null, 10)

      expect(items).toEqual([
        expect.objectContaining({ id: task.id, status: 'error', attemptCount: 0, outcome: null, endCode: 'expired' }),
      ])
    })

    it("filters by status, destination and creation window, and never lists another key's tasks", async () => {
      const a = await added(0, 'https://a.example/1')
      const b = await added(1_000, 'https://b.example/1')
      const c = await added(2_000, 'https://a.example/2')
      await added(3_000, 'https://a.example/3', OTHER)
      await finished(b, responseOf(200), 'done')
      const ids = async (filter: Parameters<TaskList['page']>[1]) =>
        (await store.list.page(OWNER, filter, null, 100)).items.map((t) => t.id)

      expect(await ids({})).toEqual([c.id, b.id, a.id])
      expect(await ids({ statuses: ['done'] })).toEqual([b.id])
      expect(await ids({ statuses: ['new', 'error'] })).toEqual([c.id, a.id])
      expect(await ids({ destination: 'a.example' })).toEqual([c.id, a.id])
      expect(await ids({ destination: 'c.example' })).toEqual([])
      expect(await ids({ createdAfter: at(1_000) })).toEqual([c.id, b.id])
      expect(await ids({ createdBefore: at(1_000) })).toEqual([a.id])
      expect(await ids({ createdAfter: at(500), createdBefore: at(2_000), statuses: ['done'] })).toEqual([b.id])
      expect((await store.list.page(OTHER, {}, null, 100)).items).toHaveLength(1)
    })

    it('cancels unsent matching tasks a chunk at a time, each with its status, and finds none on a repeat', async () => {
      const tasks = []
      for (let i = 0; i < 5; i++) tasks.push(await added(i, 'https://a.example/x'))
      const later = await added(10, 'https://a.example/x', OWNER, at(60_000))
      const elsewhere = await added(11, 'https://b.example/x')
      const done = await added(12, 'https://a.example/x')
      await finished(done, responseOf(200), 'done')
      const filter = { statuses: ['new', 'scheduled'] as const, destination: 'a.example' }

      expect(await store.bulk.cancelMatching(OWNER, filter, at(200_000), 4)).toBe(4)
      expect(await store.bulk.cancelMatching(OWNER, filter, at(200_000), 4)).toBe(2)
      expect(await store.bulk.cancelMatching(OWNER, filter, at(200_000), 4)).toBe(0)

      const statusOf = async (t: Task) => (await store.tasks.findOwned(t.id, OWNER))?.task.status
      for (const t of [...tasks, later]) expect(await statusOf(t)).toBe('cancelled')
      expect(await statusOf(elsewhere)).toBe('new')
      expect(await statusOf(done)).toBe('done')
      expect((await store.tasks.findOwned(later.id, OWNER))?.history.at(-1)).toEqual({
        status: 'cancelled',
        at: at(200_000),
        reason: null,
      })
      expect(await store.bulk.cancelMatching(OTHER, {}, at(200_000), 100)).toBe(0)
    })

    it('redrives matching tasks in error with an outbox entry each, and finds none on a repeat', async () => {
      const failed = [await added(0), await added(1)]
      const old = await added(-5_000)
      for (const t of [...failed, old]) await finished(t, responseOf(503), 'error')
      await drained()
      const filter = { statuses: ['error'] as const, createdAfter: at(0) }

      expect(await store.bulk.redriveMatching(OWNER, filter, at(300_000), 100)).toBe(2)
      expect(await store.bulk.redriveMatching(OWNER, filter, at(300_000), 100)).toBe(0)

      for (const t of failed) {
        expect((await store.tasks.findOwned(t.id, OWNER))?.task).toMatchObject({ status: 'new', budgetFrom: 1 })
      }
      expect((await store.tasks.findOwned(old.id, OWNER))?.task.status).toBe('error')
      expect((await drained()).map((e) => [e.kind, e.taskId]).sort()).toEqual(
        failed.map((t) => ['task.requested', t.id]).sort(),
      )
    })

    it('stores a batch in one go, bodies byte for byte, and leaves keyed tasks whose key is held to the holder', async () => {
      const every = Uint8Array.from({ length: 256 }, (_, i) => i)
      const mk = (body: Uint8Array | null, runAt?: Date) =>
        createTask({
          id: nextId(),
          ownerKeyId: OWNER,
          request: request('https://a.example/b', body),
          retry,
          now: T0,
          ...(runAt && { runAt }),
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        })
      const held = mk(null)
      const claim = (key: string, bodyHash: string) => ({ key, bodyHash, expiredBefore: at(-60_000) })
      expect(await store.batches.addBatch([{ task: held, claim: claim('k1', 'h1') }])).toEqual([{ created: true }])
      const tasks = [mk(every), mk(new Uint8Array()), mk(null, at(60_000)), mk(Uint8Array.of(7)), mk(null)]

      const results = await store.batches.addBatch([
        { task: tasks[0]!, claim: null },
        { task: tasks[1]!, claim: claim('k2', 'h2') },
        { task: tasks[2]!, claim: null },
        { task: tasks[3]!, claim: claim('k1', 'other') },
        { task: tasks[4]!, claim: null },
      ])

      expect(results).toEqual([
        { created: true },
        { created: true },
        { created: true },
        { created: false, taskId: held.id, bodyHash: 'h1' },
        { created: true },
      ])
      for (const t of [tasks[0]!, tasks[1]!, tasks[2]!, tasks[4]!]) {
        expect((await store.tasks.findOwned(t.id, OWNER))?.task).toEqual(t)
      }
      expect(await store.tasks.findOwned(tasks[3]!.id, OWNER)).toBeNull()
      expect((await drained()).map((e) => e.taskId)).toEqual([held.id, tasks[0]!.id, tasks[1]!.id, tasks[4]!.id])
      expect(await store.keys.findHolders(OWNER, ['k1', 'k2', 'k3'], at(-60_000))).toEqual(
        new Map([
          ['k1', { taskId: held.id, bodyHash: 'h1' }],
          ['k2', { taskId: tasks[1]!.id, bodyHash: 'h2' }],
        ]),
      )
    })

    it('stores a batched task with all a single submission stores: flow key, callbacks, signing, deadline, trace', async () => {
      const done = {
        request: {
          method: 'POST' as const,
          url: 'https://hooks.example/done',
          headers: [],
          body: null,
          timeoutMs: 2_000,
        },
        flowKey: 'https://hooks.example',
        retry,
      }
      const error = { ...done, request: { ...done.request, url: 'https://hooks.example/failed' } }
      const task = createTask({
        id: nextId(),
        ownerKeyId: OWNER,
        request: request('https://a.example/b', Uint8Array.of(1, 2, 3)),
        retry,
        now: T0,
        flowKey: 'payments',
        callbacks: { done, error },
        sign: true,
        expiresAt: at(60_000),
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      })

      expect(await store.batches.addBatch([{ task, claim: null }])).toEqual([{ created: true }])

      expect((await store.tasks.findOwned(task.id, OWNER))?.task).toEqual(task)
    })
  })
}

function responseOf(status: number): SendOutcome {
  return {
    kind: 'response',
    httpStatusCode: status,
    headers: [],
    length: 0,
    body: new Uint8Array(),
    bodyTruncated: false,
    durationMs: 2,
  }
}
