import { describeTaskStoreContract } from '@request-tasker/application/testing'
import { createTask, DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../testing/test-database.js'
import { pgOutbox } from './pg-outbox.js'
import { pgTaskRepository } from './pg-task-repository.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('pg-task-repository')
})
afterAll(async () => {
  await db?.close()
})

describeTaskStoreContract('pgTaskRepository and pgOutbox', async () => {
  await db.truncate()
  return { tasks: pgTaskRepository(db.pool), outbox: pgOutbox(db.pool) }
})

describe('pgTaskRepository under concurrency', () => {
  it('hands a task to exactly one of two claims racing on separate connections', async () => {
    await db.truncate()
    const tasks = pgTaskRepository(db.pool)
    const now = new Date('2026-01-01T00:00:00Z')
    const id = '00000000-0000-7000-8000-00000000000a' as TaskId
    const request = { method: 'GET', url: 'https://example.test/', headers: [], body: null, timeoutMs: 1_000 } as const
    const retry = { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
    await tasks.add(createTask({ id, ownerKeyId: 'key-1', request, retry, now }))

    const results = await Promise.all([tasks.claim([id], now, 0), tasks.claim([id], now, 0)])

    expect(results.map((claimed) => claimed.map((t) => t.attempts)).sort()).toEqual([[], [1]])
    const { rows } = await db.pool.query('select status from task_history where task_id = $1 order by seq', [id])
    expect(rows).toEqual([{ status: 'new' }, { status: 'in_process' }])
  })
})
