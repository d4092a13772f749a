import { randomBytes } from 'node:crypto'
import { createTestDatabase, type TestDatabase } from '@request-tasker/infrastructure/testing'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgTaskUseCases } from '../testing/pg-use-cases.js'
import { ALICE } from '../testing/test-server.js'
import { buildServer } from './server.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('server-large-bodies')
})
afterAll(async () => {
  await db?.close()
})

// Large bodies go alone (see makeSubmitTask); small ones still share a statement. Both must land
// byte for byte, whichever way they went.
describe('submissions with bodies large and small, at once', () => {
  it('stores every body byte for byte', async () => {
    const app = buildServer({
      useCases: pgTaskUseCases(db.pool),
      apiKeys: [ALICE],
      bodyLimit: 1024 * 1024,
      logger: pino({ level: 'silent' }),
      readiness: async () => ({ status: 'ok', checks: {} }),
    })
    const bodies = [100, 200_000, 10, 65_537, 65_536, 500_000, 1].map((n) => randomBytes(n))

    const answers = await Promise.all(
      bodies.map((body) =>
        app.inject({
          method: 'POST',
          url: '/tasks',
          headers: { authorization: ALICE.key, 'content-type': 'application/json' },
          payload: {
            method: 'POST',
            url: 'https://example.com/',
            body: body.toString('base64'),
            bodyEncoding: 'base64',
          },
        }),
      ),
    )

    expect(answers.map((r) => r.statusCode)).toEqual(bodies.map(() => 201))
    const ids = answers.map((r) => r.json().id)
    const { rows } = await db.pool.query('select id, request_body from tasks where id = any($1::uuid[])', [ids])
    const stored = new Map(rows.map((r) => [r.id, r.request_body as Buffer]))
    expect(ids.map((id) => stored.get(id)?.equals(bodies[ids.indexOf(id)]!))).toEqual(bodies.map(() => true))
    const { rows: outbox } = await db.pool.query('select count(*)::int as n from outbox')
    expect(outbox[0].n).toBe(bodies.length)
  })
})
