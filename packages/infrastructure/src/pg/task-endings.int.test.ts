import { randomBytes } from 'node:crypto'
import { announcingEnds, makeAwaitTask } from '@request-tasker/application'
import { roomyFlow } from '@request-tasker/application/testing'
import { createTask, DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { MIGRATIONS_DIR } from '../../testing/test-database.js'
import { createLogger } from '../logger.js'
import { pgTaskViews } from './find-owned-views.js'
import { runMigrations } from './migrate.js'
import { pgBulkChanges } from './pg-bulk-changes.js'
import { pgTaskRepository } from './pg-task-repository.js'
import { createPool } from './pool.js'
import { pgTaskEndNotifier } from './task-end-notifier.js'
import { type ListeningTaskEndings, pgTaskEndings } from './task-endings.js'

// NOTIFY reaches every session of a database whatever its schema: this file gets a database of its own.
const database = `t_endings_${randomBytes(4).toString('hex')}`
const serverUrl = inject('databaseUrl')
const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).href
const log = createLogger('task-endings-test', 'silent')
let admin: pg.Pool
let pool: pg.Pool
let endings: ListeningTaskEndings

beforeAll(async () => {
  admin = createPool({ databaseUrl: serverUrl, max: 1 })
  await admin.query(`create database ${database}`)
  await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR })
  pool = createPool({ databaseUrl, max: 4 })
  endings = await pgTaskEndings(databaseUrl, log)
})
afterAll(async () => {
  await endings?.close()
  await pool?.end()
  await admin?.query(`drop database if exists ${database} with (force)`)
  await admin?.end()
})

let n = 0
// Room for every task a test claims, whatever its flow-control key.
const POLICY = { leaseGraceMs: 1_000, keyBusyWaitMs: 1_000, flow: roomyFlow }
async function newTask(owner = 'key-1') {
  const task = createTask({
    id: `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}` as TaskId,
    ownerKeyId: owner,
    request: { method: 'GET', url: 'https://example.test/', headers: [], body: null, timeoutMs: 1_000 },
    retry: { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON },
    now: new Date(),
  })
  await pgTaskRepository(pool).add([task])
  return task
}

/** As the tasker stores an outcome: the write, then the announcement after its commit. */
async function finish(id: TaskId, status: 'done' | 'error') {
  const tasks = announcingEnds(pgTaskRepository(pool), pgTaskEndNotifier(pool, log))
  await tasks.claim([id], POLICY, { byOwner: new Map(), others: 10 })
  const outcome =
    status === 'done'
      ? {
          kind: 'response' as const,
          httpStatusCode: 200,
          headers: [],
          length: 0,
          body: new Uint8Array(),
          bodyTruncated: false,
          durationMs: 1,
        }
      : { kind: 'failure' as const, error: { code: 'dns' as const, message: 'x' }, durationMs: 1 }
  await tasks.recordAttempts([{ attempt: { taskId: id, n: 1, startedAt: new Date(), outcome }, next: { status } }])
}

describe("pgTaskEndings, the tasker's announcements and the tasks_notify_cancelled trigger", () => {
  const awaitTask = () => makeAwaitTask({ views: pgTaskViews(pool), endings, now: () => new Date() })

  it('answers a long-poll once the outcome that ends the task is stored, not at its deadline', async () => {
    const task = await newTask()
    const waiting = awaitTask()(task.id, 'key-1', 50_000)
    await expect.poll(() => endings.waiting()).toBe(1)

    await finish(task.id, 'done')

    const view = await waiting
    expect(view.task.status).toBe('done')
    expect(endings.waiting()).toBe(0)
  })

  it('answers many long-polls from one announcement of many ids', async () => {
    const tasks = await Promise.all(Array.from({ length: 250 }, () => newTask('key-3')))
    const waits = tasks.map((t) => awaitTask()(t.id, 'key-3', 50_000))
    await expect.poll(() => endings.waiting(), { timeout: 10_000 }).toBe(250)
    const repo = pgTaskRepository(pool)
    await repo.claim(
      tasks.map((t) => t.id),
      POLICY,
      { byOwner: new Map(), others: 1_000 },
    )
    const outcome = { kind: 'failure' as const, error: { code: 'tls' as const, message: 'x' }, durationMs: 1 }
    const results = tasks.map((t) => ({
      attempt: { taskId: t.id, n: 1, startedAt: new Date(), outcome },
      next: { status: 'error' as const },
    }))
    await announcingEnds(repo, pgTaskEndNotifier(pool, log)).recordAttempts(results)

    expect((await Promise.all(waits)).map((v) => v.task.status)).toEqual(Array(250).fill('error'))
  })

  it('wakes every waiter of tasks a bulk cancel ends, and each of several waiters of one task', async () => {
    const tasks = [await newTask('key-2'), await newTask('key-2'), await newTask('key-2')]
    const waits = [...tasks, tasks[0]!].map((t) => awaitTask()(t.id, 'key-2', 50_000))
    await expect.poll(() => endings.waiting()).toBe(4)

    expect(await pgBulkChanges(pool).cancelMatching('key-2', {}, new Date(), 100)).toBe(3)

    expect((await Promise.all(waits)).map((v) => v.task.status)).toEqual(Array(4).fill('cancelled'))
  })

  it('keeps waiting through changes that do not end the task, and answers at the deadline as it stands', async () => {
    const task = await newTask()
    const waiting = awaitTask()(task.id, 'key-1', 1_500)
    await expect.poll(() => endings.waiting()).toBe(1)
    await pgTaskRepository(pool).claim([task.id], POLICY, { byOwner: new Map(), others: 10 })

    expect((await waiting).task.status).toBe('in_process')
    expect(endings.waiting()).toBe(0)
  })

  it('answers at once for a task already ended, and stops waiting when the caller goes away', async () => {
    const ended = await newTask()
    await finish(ended.id, 'error')
    expect((await awaitTask()(ended.id, 'key-1', 50_000)).task.status).toBe('error')

    const open = await newTask()
    const gone = new AbortController()
    const waiting = awaitTask()(open.id, 'key-1', 50_000, gone.signal)
    await expect.poll(() => endings.waiting()).toBe(1)
    gone.abort()
    expect((await waiting).task.status).toBe('new')
    expect(endings.waiting()).toBe(0)
  })
})
