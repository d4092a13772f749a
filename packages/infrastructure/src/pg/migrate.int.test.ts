import { randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runner } from 'node-pg-migrate'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { MIGRATIONS_DIR } from '../testing/test-database.js'
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
