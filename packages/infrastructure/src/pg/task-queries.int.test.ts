import { describeTaskQueriesContract } from '@request-tasker/application/testing'
import { afterAll, beforeAll } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../testing/test-database.js'
import { pgBatchStore } from './add-task-batch.js'
import { pgTaskViews } from './find-owned-views.js'
import { pgTaskList } from './list-tasks.js'
import { pgBulkChanges } from './pg-bulk-changes.js'
import { pgIdempotencyKeys } from './pg-idempotency-keys.js'
import { pgOutbox } from './pg-outbox.js'
import { pgTaskRepository } from './pg-task-repository.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('task-queries')
})
afterAll(async () => {
  await db?.close()
})

describeTaskQueriesContract('Postgres', async (clock) => {
  await db.truncate()
  await db.pool.query('truncate task_idempotency')
  return {
    tasks: pgTaskRepository(db.pool, { clock }),
    outbox: pgOutbox(db.pool),
    list: pgTaskList(db.pool),
    bulk: pgBulkChanges(db.pool),
    batches: pgBatchStore(db.pool),
    keys: pgIdempotencyKeys(db.pool),
    views: pgTaskViews(db.pool),
  }
})
