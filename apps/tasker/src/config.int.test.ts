import { roomyFlow } from '@request-tasker/application/testing'
import { createTask, DEFAULT_RETRY_ON, MAX_TIMEOUT_MS, type TaskId } from '@request-tasker/domain'
import { pgTaskRepository } from '@request-tasker/infrastructure'
import { createTestDatabase, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from './config.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('tasker-config')
})
afterAll(async () => {
  await db?.close()
})

const required = { DATABASE_URL: 'postgres://localhost:5432/tasks', KAFKA_BROKERS: 'localhost:9092' }

describe('the lease and wait settings at the top of their ranges', () => {
  it('still form leases, waits and look-backs in SQL for the longest task timeout', async () => {
    const top = {
      LEASE_GRACE_MS: '3600000',
      KEY_BUSY_WAIT_MS: '3600000',
      RECONCILE_AFTER_MS: String(7 * 24 * 3_600_000),
    }
    const { LEASE_GRACE_MS, KEY_BUSY_WAIT_MS, RECONCILE_AFTER_MS } = loadConfig({ ...required, ...top })
    const now = new Date('2026-01-01T00:00:00Z')
    const task = createTask({
      id: '00000000-0000-7000-8000-000000000001' as TaskId,
      ownerKeyId: 'key-1',
      request: { method: 'GET', url: 'https://example.test/', headers: [], body: null, timeoutMs: MAX_TIMEOUT_MS },
      retry: { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON },
      now,
    })
    const tasks = pgTaskRepository(db.pool, { clock: () => now })
    await tasks.add([task])

    const lease = { leaseGraceMs: LEASE_GRACE_MS, keyBusyWaitMs: KEY_BUSY_WAIT_MS, flow: roomyFlow }
    const { claimed } = await tasks.claim([task.id], lease, { byOwner: new Map(), others: 1 })
    expect(claimed.map((t) => t.id)).toEqual([task.id])
    expect(await tasks.renewLeases([{ taskId: task.id, n: 1 }], LEASE_GRACE_MS)).toBe(1)
    expect(await tasks.requeueLost(RECONCILE_AFTER_MS, 10)).toEqual([])
    const { rows } = await db.pool.query('select lease_until from tasks where id = $1', [task.id])
    expect(rows[0].lease_until).toEqual(new Date(now.getTime() + MAX_TIMEOUT_MS + LEASE_GRACE_MS))
  })
})
