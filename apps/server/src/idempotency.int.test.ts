import { manualClock } from '@request-tasker/application/testing'
import { createTestDatabase, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgTaskUseCases } from '../testing/pg-use-cases.js'
import { ALICE } from '../testing/test-server.js'
import { loadConfig } from './config.js'
import { buildServer } from './server.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('server-idempotency')
})
afterAll(async () => {
  await db?.close()
})

function serverWithWindow(idempotencyWindowMs: number, now = () => new Date()) {
  const useCases = pgTaskUseCases(db.pool, { now, idempotencyWindowMs })
  return buildServer({
    useCases,
    apiKeys: [ALICE],
    bodyLimit: 1024 * 1024,
    logger: pino({ level: 'silent' }),
    readiness: async () => ({ status: 'ok', checks: {} }),
  })
}

const keyed = { authorization: ALICE.key, 'content-type': 'application/json' }

describe('a repeated scheduled submission', () => {
  // The 201 was lost, and the client's retry arrives after notBefore passed: it names the task it already made.
  it('answers 200 with the first id after notBefore passed, and 409 for the same key with another body', async () => {
    const clock = manualClock(new Date())
    const app = serverWithWindow(60_000, clock.now)
    const notBefore = new Date(clock.now().getTime() + 1_000).toISOString()
    const submit = (url: string) =>
      app.inject({
        method: 'POST',
        url: '/tasks',
        headers: { ...keyed, 'idempotency-key': 'scheduled-1' },
        payload: { method: 'GET', url, notBefore },
      })

    const first = await submit('https://example.com/a')
    clock.advance(5_000)
    const repeat = await submit('https://example.com/a')
    const otherBody = await submit('https://example.com/b')

    expect(first.statusCode).toBe(201)
    expect(repeat.statusCode).toBe(200)
    expect(repeat.json()).toEqual(first.json())
    expect(otherBody.statusCode).toBe(409)
    expect(otherBody.json()).toMatchObject({ type: '/problems/idempotency-key-reused' })
    const { rows } = await db.pool.query('select count(*)::int as n from tasks')
    expect(rows[0].n).toBe(1)
  })
})

describe('IDEMPOTENCY_WINDOW_MS at the top of its range', () => {
  it('stores a keyed submission and answers its repeat with the same id', async () => {
    const { IDEMPOTENCY_WINDOW_MS } = loadConfig({
      DATABASE_URL: 'postgres://localhost:5432/tasks',
      API_KEYS: 'alice:alice-key',
      IDEMPOTENCY_WINDOW_MS: String(30 * 24 * 60 * 60 * 1000),
    })
    const app = serverWithWindow(IDEMPOTENCY_WINDOW_MS)
    const submit = () =>
      app.inject({
        method: 'POST',
        url: '/tasks',
        headers: { ...keyed, 'idempotency-key': 'k-1' },
        payload: { method: 'GET', url: 'https://example.com/' },
      })

    const first = await submit()
    const again = await submit()

    expect(first.statusCode).toBe(201)
    expect(again.statusCode).toBe(200)
    expect(again.json()).toEqual(first.json())
  })
})
