import { makeFlowControlUseCases } from '@request-tasker/application'
import { checkReadiness, pgFlowControls, postgresChecks } from '@request-tasker/infrastructure'
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { badInputCases, badInputServer, tableKey } from '../testing/bad-input.cases.js'
import { pgTaskUseCases } from '../testing/pg-use-cases.js'
import { buildServer } from './server.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('server-bad-input')
})
beforeEach(async () => {
  await db.truncate()
})
afterAll(async () => {
  await db?.close()
})

function serverOverPostgres() {
  const flowControls = pgFlowControls(db.pool)
  const useCases = pgTaskUseCases(db.pool, { flowControls })
  return buildServer({
    useCases,
    flowControls: makeFlowControlUseCases({ flowControls }),
    ...badInputServer,
    logger: pino({ level: 'silent' }),
    readiness: () => checkReadiness(postgresChecks(db.pool, MIGRATIONS_DIR)),
  })
}

async function storedCounts() {
  const { rows } = await db.pool.query(
    `select (select count(*) from tasks)::int as tasks, (select count(*) from outbox)::int as outbox,
            (select count(*) from task_idempotency)::int as keys`,
  )
  return rows[0]
}

describe('refused input against Postgres', () => {
  it.each(badInputCases)('answers $status to $name and stores nothing', async (c) => {
    const res = await serverOverPostgres().inject({
      method: c.method,
      url: c.url,
      headers: c.headers,
      payload: c.payload,
    })

    expect(res.statusCode).toBe(c.status)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    if (c.path !== undefined) expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(c.path)
    expect(await storedCounts()).toEqual({ tasks: 0, outbox: 0, keys: 0 })
  })

  it('stores a task and its outbox entry for a valid submission, so the counts above can see one', async () => {
    const res = await serverOverPostgres().inject({
      method: 'POST',
      url: '/tasks',
      headers: { authorization: tableKey.key, 'content-type': 'application/json' },
      payload: { method: 'GET', url: 'https://example.com/' },
    })

    expect(res.statusCode).toBe(201)
    expect(await storedCounts()).toEqual({ tasks: 1, outbox: 1, keys: 0 })
  })
})
