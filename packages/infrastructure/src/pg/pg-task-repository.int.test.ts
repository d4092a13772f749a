import { groupCommit } from '@request-tasker/application'
import { describeTaskStoreContract, roomyFlow } from '@request-tasker/application/testing'
import { createTask, DEFAULT_RETRY_ON, type Task, type TaskId } from '@request-tasker/domain'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../testing/test-database.js'
import { isDatabaseUnavailable } from './database-unavailable.js'
import { pgFlowControls } from './pg-flow-controls.js'
import { pgOutbox } from './pg-outbox.js'
import { pgTaskRepository } from './pg-task-repository.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('pg-task-repository')
})
afterAll(async () => {
  await db?.close()
})

describeTaskStoreContract('pgTaskRepository and pgOutbox', async (clock) => {
  await db.truncate()
  return {
    tasks: pgTaskRepository(db.pool, { clock }),
    outbox: pgOutbox(db.pool),
    flowControls: pgFlowControls(db.pool, { clock }),
  }
})

describe('pgTaskRepository under concurrency', () => {
  const request = { method: 'GET', url: 'https://example.test/', headers: [], body: null, timeoutMs: 1_000 } as const
  const retry = { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
  const taskN = (n: number, now = new Date('2026-01-01T00:00:00Z')) =>
    createTask({
      id: `00000000-0000-7000-8000-${String(n).padStart(12, '0')}` as TaskId,
      ownerKeyId: 'key-1',
      request,
      retry,
      now,
    })

  it('stores many tasks in one statement, each with its outbox entry and first status', async () => {
    await db.truncate()
    const tasks = pgTaskRepository(db.pool)
    const body = new Uint8Array([0, 1, 2, 255])
    const scheduled = createTask({
      id: taskN(49).id,
      ownerKeyId: 'key-1',
      request: { ...request, body },
      retry,
      runAt: new Date('2026-01-02T00:00:00Z'),
      now: new Date('2026-01-01T00:00:00Z'),
    })
    const ownRetry = { ...retry, retryOn: { statuses: [503], errors: [] } }
    const retried = createTask({
      id: taskN(48).id,
      ownerKeyId: 'key-1',
      request,
      retry: ownRetry,
      now: scheduled.createdAt,
    })
    const all = [...Array.from({ length: 48 }, (_, i) => taskN(i)), retried, scheduled]

    await tasks.add(all)

    const { rows } = await db.pool.query(
      `select count(*)::int as tasks, (select count(*)::int from outbox) as queued,
              (select count(*)::int from task_history) as statuses from tasks`,
    )
    expect(rows).toEqual([{ tasks: 50, queued: 49, statuses: 50 }])
    const view = await tasks.findOwned(scheduled.id, 'key-1')
    expect(view?.task).toEqual(scheduled)
    expect(view?.history).toEqual([{ status: 'scheduled', at: scheduled.createdAt, reason: 'not-before' }])
    expect((await tasks.findOwned(retried.id, 'key-1'))?.task.retry).toEqual(ownRetry)
    expect((await tasks.findOwned(taskN(0).id, 'key-1'))?.task.retry).toEqual(retry)
  })

  it('fails only the submission that cannot be stored when it shared a statement with others', async () => {
    await db.truncate()
    const tasks = pgTaskRepository(db.pool)
    await tasks.add([taskN(1)])
    const write = async (batch: Task[]) => {
      await tasks.add(batch)
      return batch.map(() => undefined)
    }
    const add = groupCommit(write, { maxBatch: 10, isUnavailable: isDatabaseUnavailable })

    // 2 goes alone; 3, 1 again (a duplicate id) and 4 wait and go together, which fails, then each alone.
    const outcomes = await Promise.allSettled([2, 3, 1, 4].map((n) => add(taskN(n))))

    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    const { rows } = await db.pool.query('select count(*)::int as n from outbox')
    expect(rows).toEqual([{ n: 4 }])
  })

  it('hands a task to exactly one of two claims racing on separate connections', async () => {
    await db.truncate()
    const tasks = pgTaskRepository(db.pool)
    const now = new Date('2026-01-01T00:00:00Z')
    const id = '00000000-0000-7000-8000-00000000000a' as TaskId
    const request = { method: 'GET', url: 'https://example.test/', headers: [], body: null, timeoutMs: 1_000 } as const
    const retry = { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
    await tasks.add([createTask({ id, ownerKeyId: 'key-1', request, retry, now })])

    const lease = { leaseGraceMs: 0, keyBusyWaitMs: 1_000, flow: roomyFlow }
    const room = { byOwner: new Map(), others: 10 }
    const results = await Promise.all([tasks.claim([id], lease, room), tasks.claim([id], lease, room)])

    expect(results.map(({ claimed }) => claimed.map((t) => t.attempts)).sort()).toEqual([[], [1]])
    const { rows } = await db.pool.query('select status from task_history where task_id = $1 order by seq', [id])
    expect(rows).toEqual([{ status: 'new' }, { status: 'in_process' }])
  })

  it("counts a key's sends in flight after the key is locked, so a claim that waited for another sees its sends", async () => {
    await db.truncate()
    const tasks = pgTaskRepository(db.pool)
    await tasks.add([taskN(1), taskN(2)])
    const policy = { leaseGraceMs: 0, keyBusyWaitMs: 1_000, flow: { ...roomyFlow, parallelism: 1 } }
    const room = { byOwner: new Map(), others: 10 }
    await tasks.claim([], policy, room) // nothing: the key's row does not exist yet
    await db.pool.query(`insert into flow_keys (owner_key_id, key) values ('key-1', 'https://example.test')`)

    // Another claim holds the key and puts task 1 in flight; this claim starts meanwhile and waits for the key.
    const other = await db.pool.connect()
    try {
      await other.query('begin')
      await other.query(`select 1 from flow_keys where owner_key_id = 'key-1' for update`)
      const waiting = tasks.claim([taskN(2).id], policy, room)
      await expect
        .poll(async () => {
          const { rows } = await db.pool.query(
            `select count(*)::int as n from pg_stat_activity
             where wait_event_type = 'Lock' and query like '%insert into flow_keys%'`,
          )
          return rows[0].n
        })
        .toBe(1)
      await other.query(`update tasks set status = 'in_process', flow_key = 'https://example.test' where id = $1`, [
        taskN(1).id,
      ])
      await other.query('commit')

      // Parallelism 1, one send in flight: task 2 waits for a slot.
      expect(await waiting).toMatchObject({ claimed: [], deferred: [{ id: taskN(2).id, reason: 'parallelism' }] })
    } finally {
      other.release()
    }
  })
})
