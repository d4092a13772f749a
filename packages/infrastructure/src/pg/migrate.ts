import { readdir } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { runner } from 'node-pg-migrate'
import type { Queryable } from './pool.js'

const MIGRATIONS_TABLE = 'pgmigrations'

/** Applies every pending migration in `dir`, in one transaction; returns the names applied. */
export async function runMigrations(options: {
  databaseUrl: string
  dir: string
  /** Created when missing; holds the tables and the migrations table. */
  schema?: string
  log?: (message: string) => void
}): Promise<string[]> {
  const { databaseUrl, dir, schema, log = () => {} } = options
  const applied = await runner({
    databaseUrl,
    dir,
    direction: 'up',
    migrationsTable: MIGRATIONS_TABLE,
    ...(schema === undefined ? {} : { schema, createSchema: true }),
    singleTransaction: true,
    // The lock is one per database, not per schema: a second run (another deploy, a parallel test file) waits for
    // the first and then finds nothing left to do, instead of failing.
    advisoryLockMode: 'wait',
    log,
  })
  return applied.map((m) => m.name)
}

/** Refuses to go on when the database lacks a migration the code in `dir` expects. */
export async function assertMigrationsCurrent(db: Queryable, dir: string): Promise<void> {
  const [expected, applied] = await Promise.all([migrationNames(dir), appliedMigrations(db)])
  const missing = expected.filter((name) => !applied.has(name))
  if (missing.length === 0) return
  throw new Error(
    `the database lacks ${missing.length} migration(s): ${missing.join(', ')}. ` +
      'Run `task migrate` (or `pnpm migrate` with DATABASE_URL set), then start again.',
  )
}

// The names node-pg-migrate records: file names without extension, dotfiles ignored as its default pattern does.
async function migrationNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.'))
    .map((e) => basename(e.name, extname(e.name)))
    .sort()
}

async function appliedMigrations(db: Queryable): Promise<Set<string>> {
  // Checked first so a never-migrated database reads as "everything missing", not as an undefined-table error.
  const { rows } = await db.query<{ present: boolean }>('select to_regclass($1) is not null as present', [
    MIGRATIONS_TABLE,
  ])
  if (!rows[0]?.present) return new Set()
  const applied = await db.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE}`)
  return new Set(applied.rows.map((r) => r.name))
}
