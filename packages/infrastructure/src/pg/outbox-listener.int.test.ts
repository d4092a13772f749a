import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import { MIGRATIONS_DIR } from '../../testing/test-database.js'
import { createLogger } from '../logger.js'
import { runMigrations } from './migrate.js'
import { listenForOutbox, type OutboxListener } from './outbox-listener.js'
import { pgOutboxNotifier } from './outbox-notifier.js'
import { createPool } from './pool.js'

// NOTIFY reaches every session of a database whatever its schema, so this file gets a database of its own:
// another file's notification must not pass for ours.
const database = `t_listener_${randomBytes(4).toString('hex')}`
const serverUrl = inject('databaseUrl')
const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).href
const log = createLogger('outbox-listener-test', 'silent')
let admin: pg.Pool
let pool: pg.Pool
let listener: OutboxListener | undefined

beforeAll(async () => {
  admin = createPool({ databaseUrl: serverUrl, max: 1 })
  await admin.query(`create database ${database}`)
  await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR })
  pool = createPool({ databaseUrl, max: 3 })
})
afterEach(async () => {
  await listener?.close()
  listener = undefined
  // A closed connection's backend leaves pg_stat_activity a moment later; the next test counts them.
  await expect.poll(listenerPids).toEqual([])
})
afterAll(async () => {
  await pool?.end()
  await admin?.query(`drop database if exists ${database} with (force)`)
  await admin?.end()
})

/** What the server does on a submission: commit the entry, then notify. */
async function addOutboxRow(): Promise<void> {
  await pool.query(`insert into outbox (kind, task_id) values ('task.requested', gen_random_uuid())`)
  pgOutboxNotifier(pool, log)()
}

async function listenerPids(): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `select pid from pg_stat_activity where datname = $1 and query = 'listen outbox'`,
    [database],
  )
  return rows.map((r) => r.pid)
}

describe('listenForOutbox', () => {
  it('calls onNotify when the notifier announces a committed outbox row', async () => {
    let notified = 0
    listener = await listenForOutbox(databaseUrl, () => notified++, log)
    expect(notified).toBe(0)

    await addOutboxRow()

    await expect.poll(() => notified).toBe(1)
  })

  it('reconnects after its connection dies, calls onNotify once to catch up, and hears later inserts', async () => {
    let notified = 0
    listener = await listenForOutbox(pool, () => notified++, log, { initialMs: 10, maxMs: 50 })
    const [pid] = await listenerPids()

    await admin.query('select pg_terminate_backend($1)', [pid])

    await expect.poll(() => notified).toBe(1)
    await expect.poll(listenerPids).toEqual([expect.any(Number)]) // the killed backend may linger a moment
    expect(await listenerPids()).not.toEqual([pid])
    await addOutboxRow()
    await expect.poll(() => notified).toBe(2)
  })

  it('coalesces a burst of announcements into few notifications, never none', async () => {
    let notified = 0
    listener = await listenForOutbox(pool, () => notified++, log)
    const announce = pgOutboxNotifier(pool, log)
    for (let i = 0; i < 100; i++) announce()

    await expect.poll(() => notified).toBeGreaterThanOrEqual(1)
    await expect.poll(() => notified).toBe(2) // the first NOTIFY, then one for all 99 calls made while it ran
  })

  it('gives its connection up when closed', async () => {
    listener = await listenForOutbox(pool, () => {}, log)
    expect(await listenerPids()).toHaveLength(1)

    await listener.close()

    await expect.poll(listenerPids).toEqual([])
  })
})
