import { checkReadiness, createPool, postgresChecks } from '@request-tasker/infrastructure'
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '@request-tasker/infrastructure/testing'
import type pg from 'pg'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { pgTaskUseCases } from '../testing/pg-use-cases.js'
import { ALICE } from '../testing/test-server.js'
import { buildServer } from './server.js'

let db: TestDatabase
let pool: pg.Pool
beforeAll(async () => {
  db = await createTestDatabase('server-readiness-flood')
  pool = createPool({ databaseUrl: db.databaseUrl, schema: db.schema, max: 2 })
})
afterAll(async () => {
  await pool?.end()
  await db?.close()
})

// Readiness probes need no key, so anyone can send a flood of them. Each used to run its queries on the pool
// the submissions wait for, and every one waiting counted toward shedding: the flood made /tasks answer 503.
describe('a flood of readiness probes', () => {
  it('leaves submissions unaffected, running few checks', async () => {
    let checks = 0
    const useCases = pgTaskUseCases(pool)
    const app = buildServer({
      useCases,
      apiKeys: [ALICE],
      bodyLimit: 1024 * 1024,
      logger: pino({ level: 'silent' }),
      readiness: () => {
        checks++
        return checkReadiness(postgresChecks(pool, MIGRATIONS_DIR))
      },
      shedding: {
        pressure: { poolWaiting: () => pool.waitingCount + useCases.submitTask.queued() },
        limits: { maxPoolWaiting: 10, maxEventLoopDelayMs: 0 },
      },
    })
    const probe = () => app.inject({ method: 'GET', url: '/health/ready' })
    const submit = () =>
      app.inject({
        method: 'POST',
        url: '/tasks',
        headers: { authorization: ALICE.key, 'content-type': 'application/json' },
        payload: { method: 'GET', url: 'https://example.com/' },
      })

    const probes = Promise.all(Array.from({ length: 300 }, probe))
    // The submissions come while the probes are being answered, as they would during a flood.
    await vi.waitFor(() => expect(checks).toBeGreaterThan(0))
    await new Promise((resolve) => setImmediate(resolve))
    const submitted = await Promise.all(Array.from({ length: 10 }, submit))
    const probed = await probes

    expect(submitted.map((r) => r.statusCode)).toEqual(Array(10).fill(201))
    expect(probed.every((r) => r.statusCode === 200)).toBe(true)
    expect(checks).toBeLessThan(10)
  })
})
