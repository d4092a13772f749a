import { once } from 'node:events'
import { type AddressInfo, createServer } from 'node:net'
import { checkReadiness, createPool, postgresChecks } from '@request-tasker/infrastructure'
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testServer } from '../testing/test-server.js'

let db: TestDatabase
let unreachable: ReturnType<typeof createPool>

beforeAll(async () => {
  db = await createTestDatabase('server-health')
  const closed = createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const url = new URL(db.databaseUrl)
  url.hostname = '127.0.0.1'
  url.port = String((closed.address() as AddressInfo).port)
  closed.close()
  await once(closed, 'close')
  unreachable = createPool({ databaseUrl: url.href, max: 1 })
})
afterAll(async () => {
  await unreachable?.end()
  await db?.close()
})

describe('GET /health/ready over Postgres', () => {
  it('answers 200 while the database answers with every migration', async () => {
    const { app } = testServer({ readiness: () => checkReadiness(postgresChecks(db.pool, MIGRATIONS_DIR)) })
    const res = await app.inject({ method: 'GET', url: '/health/ready' })

    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok', checks: { database: 'ok', migrations: 'ok' } })
  })

  it('answers 503 naming both checks when the database URL points at a closed port, while live stays 200', async () => {
    const { app } = testServer({ readiness: () => checkReadiness(postgresChecks(unreachable, MIGRATIONS_DIR)) })
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    const live = await app.inject({ method: 'GET', url: '/health/live' })

    expect(ready.statusCode).toBe(503)
    expect(ready.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(ready.json()).toEqual({
      type: '/problems/not-ready',
      title: 'Not ready',
      status: 503,
      detail: 'failing: database, migrations',
      errors: [
        { path: 'database', message: 'database check failed' },
        { path: 'migrations', message: 'migrations check failed' },
      ],
    })
    expect(live.statusCode).toBe(200)
  })
})
