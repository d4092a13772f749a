import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../../testing/test-database.js'
import { createKafka } from '../kafka/clients.js'
import { createLogger } from '../logger.js'
import { createPool } from '../pg/pool.js'
import { checkReadiness, kafkaCheck, postgresChecks } from './readiness.js'

const log = createLogger('readiness-test', 'silent')
let db: TestDatabase
let closedPort: number

beforeAll(async () => {
  db = await createTestDatabase('readiness')
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  closedPort = (server.address() as AddressInfo).port
  server.close()
  await once(server, 'close')
})
afterAll(async () => {
  await db?.close()
})

describe('postgresChecks', () => {
  it('pass against a migrated schema', async () => {
    expect(await checkReadiness(postgresChecks(db.pool, MIGRATIONS_DIR))).toEqual({
      status: 'ok',
      checks: { database: 'ok', migrations: 'ok' },
    })
  })

  it('fail on migrations alone against a schema without them', async () => {
    const pool = createPool({
      databaseUrl: db.databaseUrl,
      max: 1,
      schema: `t_unmigrated_${randomBytes(4).toString('hex')}`,
    })
    try {
      expect(await checkReadiness(postgresChecks(pool, MIGRATIONS_DIR))).toEqual({
        status: 'failing',
        checks: { database: 'ok', migrations: 'failing' },
        failures: [{ check: 'migrations', message: expect.stringMatching(/^the database lacks \d+ migration\(s\)/) }],
      })
    } finally {
      await pool.end()
    }
  })

  it('fail on both when nothing listens at the database address', async () => {
    const url = new URL(db.databaseUrl)
    url.hostname = '127.0.0.1'
    url.port = String(closedPort)
    const pool = createPool({ databaseUrl: url.href, max: 1 })
    try {
      expect(await checkReadiness(postgresChecks(pool, MIGRATIONS_DIR))).toEqual({
        status: 'failing',
        checks: { database: 'failing', migrations: 'failing' },
        failures: [
          { check: 'database', message: `connect ECONNREFUSED 127.0.0.1:${closedPort}` },
          { check: 'migrations', message: `connect ECONNREFUSED 127.0.0.1:${closedPort}` },
        ],
      })
    } finally {
      await pool.end()
    }
  })
})

describe('kafkaCheck', () => {
  it('passes while a broker answers', async () => {
    const kafka = createKafka({ brokers: inject('kafkaBrokers').split(','), clientId: 'readiness-test', log })
    const admin = kafka.admin({ retry: { retries: 0 } })
    try {
      expect(await checkReadiness({ kafka: kafkaCheck(admin) })).toEqual({ status: 'ok', checks: { kafka: 'ok' } })
    } finally {
      await admin.disconnect()
    }
  })

  it('fails within the probe budget when no broker listens', async () => {
    const kafka = createKafka({ brokers: [`127.0.0.1:${closedPort}`], clientId: 'readiness-test', log })
    const admin = kafka.admin({ retry: { retries: 0 } })
    const started = performance.now()
    try {
      expect(await checkReadiness({ kafka: kafkaCheck(admin) })).toEqual({
        status: 'failing',
        checks: { kafka: 'failing' },
        failures: [{ check: 'kafka', message: expect.any(String) }],
      })
      expect(performance.now() - started).toBeLessThan(2_500)
    } finally {
      await admin.disconnect()
    }
  })
})
