import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runner } from 'node-pg-migrate'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { MIGRATIONS_DIR } from '../../testing/test-database.js'
import { assertMigrationsCurrent, runMigrations } from './migrate.js'
import { createPool } from './pool.js'

const FIRST = '1764000000000_create-tasks'
const ALL = [
  FIRST,
  '1764000000001_drop-outbox-notify-trigger',
  '1764100000000_add-retries',
  '1764200000000_add-dead-letters-and-redrive',
  '1764300000000_add-cancelled-status',
  '1764400000000_create-task-idempotency',
  '1764500000000_first-status-on-the-task',
  '1764600000000_add-wait-reasons',
  '1764700000000_add-flow-control',
  '1764900000000_add-callbacks-signing-deadlines-secrets',
  '1765000000000_list-wait-and-trace',
]
const databaseUrl = inject('databaseUrl')
const schema = `t_migrate_${randomBytes(4).toString('hex')}`
let admin: pg.Pool
let pool: pg.Pool

beforeAll(async () => {
  admin = createPool({ databaseUrl, max: 1 })
  await admin.query(`create schema ${schema}`)
  pool = createPool({ databaseUrl, max: 2, schema })
})
afterAll(async () => {
  await pool?.end()
  await admin?.query(`drop schema if exists ${schema} cascade`)
  await admin?.end()
})

async function tableExists(name: string): Promise<boolean> {
  const { rows } = await pool.query('select to_regclass($1) is not null as present', [name])
  return rows[0].present
}

// One flow, in order: each step starts from the state the previous one left.
describe('migrations', () => {
  it('refuses an empty schema, naming the missing migration and the command that applies it', async () => {
    await expect(assertMigrationsCurrent(pool, MIGRATIONS_DIR)).rejects.toThrow(
      `the database lacks ${ALL.length} migration(s): ${ALL.join(', ')}. Run \`task migrate\` (or \`pnpm migrate\` with DATABASE_URL set), then start again.`,
    )
  })

  it('applies every migration once through runMigrations, after which the check passes', async () => {
    expect(await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR, schema })).toEqual(ALL)
    expect(await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR, schema })).toEqual([])

    await expect(assertMigrationsCurrent(pool, MIGRATIONS_DIR)).resolves.toBeUndefined()
    expect(await tableExists('tasks')).toBe(true)
  })

  it('names only the migrations the database lacks when the code is ahead of it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'))
    try {
      await copyFile(join(MIGRATIONS_DIR, `${FIRST}.sql`), join(dir, `${FIRST}.sql`))
      await writeFile(join(dir, '1765000000000_add-index.sql'), '-- Up Migration\n-- Down Migration\n')
      await writeFile(join(dir, '.DS_Store'), '')

      await expect(assertMigrationsCurrent(pool, dir)).rejects.toThrow(
        'the database lacks 1 migration(s): 1765000000000_add-index.',
      )
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  it('rolls back with the down migration and applies again afterwards', async () => {
    const down = await runner({
      databaseUrl,
      dir: MIGRATIONS_DIR,
      schema,
      direction: 'down',
      count: Number.POSITIVE_INFINITY,
      migrationsTable: 'pgmigrations',
      log: () => {},
    })

    expect(down.map((m) => m.name)).toEqual([...ALL].reverse())
    expect(await Promise.all(['tasks', 'task_statuses', 'task_results', 'outbox'].map(tableExists))).toEqual([
      false,
      false,
      false,
      false,
    ])
    await expect(assertMigrationsCurrent(pool, MIGRATIONS_DIR)).rejects.toThrow(FIRST)

    expect(await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR, schema })).toEqual(ALL)
    await expect(assertMigrationsCurrent(pool, MIGRATIONS_DIR)).resolves.toBeUndefined()
  })
})

// Histories written before a task's first status moved onto its row read the same afterwards, and again after a
// rollback: the data migration moves each task's first task_statuses row, both ways.
describe('moving the first status onto the task', () => {
  const dataSchema = `t_migrate_data_${randomBytes(4).toString('hex')}`
  let data: pg.Pool
  const migrate = (direction: 'up' | 'down', count: number) =>
    runner({
      databaseUrl,
      dir: MIGRATIONS_DIR,
      schema: dataSchema,
      direction,
      count,
      migrationsTable: 'pgmigrations',
      log: () => {},
    })
  const ids = ['00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-0000000000a2']
  const history = async (table: 'task_statuses' | 'task_history', order: 'id' | 'seq') =>
    (
      await data.query(
        `select task_id, array_agg(status order by ${order}) as statuses, array_agg(at order by ${order}) as ats
         from ${table} group by task_id order by task_id`,
      )
    ).rows

  beforeAll(async () => {
    await admin.query(`create schema ${dataSchema}`)
    data = createPool({ databaseUrl, max: 1, schema: dataSchema })
  })
  afterAll(async () => {
    await data?.end()
    await admin?.query(`drop schema if exists ${dataSchema} cascade`)
  })

  it('keeps every history through the up and the down migration', async () => {
    await migrate('up', ALL.indexOf('1764500000000_first-status-on-the-task'))
    // One task sent and done, one scheduled from the start; their rows interleave as concurrent tasks' do.
    await data.query(
      `insert into tasks (id, owner_key_id, method, url, request_headers, timeout_ms, status, attempts, max_attempts,
                          backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, updated_at)
       values ($1, 'k', 'GET', 'https://example.test/', '[]', 1000, 'done', 1, 1, 1, 1, '{}', null,
               '2026-01-01T00:00:00Z', '2026-01-01T00:00:02Z'),
              ($2, 'k', 'GET', 'https://example.test/', '[]', 1000, 'scheduled', 0, 1, 1, 1, '{}',
               '2026-01-02T00:00:00Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:01Z')`,
      ids,
    )
    await data.query(
      `insert into task_statuses (task_id, status, at) values
         ($1, 'new', '2026-01-01T00:00:00Z'), ($2, 'scheduled', '2026-01-01T00:00:01Z'),
         ($1, 'in_process', '2026-01-01T00:00:01Z'), ($1, 'done', '2026-01-01T00:00:02Z')`,
      ids,
    )
    const before = await history('task_statuses', 'id')

    await migrate('up', 1)
    expect(await history('task_history', 'seq')).toEqual(before)
    expect((await data.query('select count(*)::int as n from task_statuses')).rows).toEqual([{ n: 2 }])

    await migrate('down', 1)
    expect(await history('task_statuses', 'id')).toEqual(before)
  })
})
