import { createPool } from '@request-tasker/infrastructure'
import { createTestDatabase, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgTaskUseCases } from '../testing/pg-use-cases.js'
import { ALICE } from '../testing/test-server.js'
import { buildServer } from './server.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('server-database-unavailable')
})
afterAll(async () => {
  await db?.close()
})

describe('a request that gets no database connection in time', () => {
  it('answers 503 problem+json with Retry-After, not 500', async () => {
    // One connection, held by someone else: the request's checkout waits out the 100 ms acquire timeout.
    const pool = createPool({ databaseUrl: db.databaseUrl, schema: db.schema, max: 1, acquireTimeoutMs: 100 })
    const held = await pool.connect()
    try {
      const app = buildServer({
        useCases: pgTaskUseCases(pool, { defaultTimeoutMs: 1_000 }),
        apiKeys: [ALICE],
        bodyLimit: 1024,
        logger: pino({ level: 'silent' }),
        readiness: async () => ({ status: 'ok', checks: {} }),
      })

      const res = await app.inject({
        method: 'POST',
        url: '/tasks',
        headers: { authorization: `Bearer ${ALICE.key}`, 'content-type': 'application/json' },
        payload: { method: 'GET', url: 'https://example.com/' },
      })

      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(res.json()).toEqual({
        type: '/problems/database-unavailable',
        title: 'Database unavailable',
        status: 503,
        detail: 'the database is unavailable; retry later',
      })
    } finally {
      held.release()
      await pool.end()
    }
    expect((await db.pool.query('select count(*)::int as n from tasks')).rows[0].n).toBe(0)
  })
})
