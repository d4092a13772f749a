import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import { inject } from 'vitest'
import { runMigrations } from '../src/pg/migrate.js'
import { createPool } from '../src/pg/pool.js'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations', import.meta.url))

export type TestDatabase = {
  /** Every connection of this pool has `schema` as its search_path. */
  pool: pg.Pool
  schema: string
  /** The server's URL, without the schema: pass `schema` along to createPool or runMigrations. */
  databaseUrl: string
  /** Empties every table and restarts the outbox ids; the schema and its migrations stay. */
  truncate(): Promise<void>
  /** Ends the pool and drops the schema. */
  close(): Promise<void>
}

/**
 * A schema of its own, migrated by the production path, so test files can share one server and run in parallel.
 * Notifications are per database, not per schema: a test of LISTEN needs a database of its own.
 */
export async function createTestDatabase(name: string, databaseUrl = inject('databaseUrl')): Promise<TestDatabase> {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40)
  const schema = `t_${slug}_${randomBytes(4).toString('hex')}`
  await runMigrations({ databaseUrl, dir: MIGRATIONS_DIR, schema })
  const pool = createPool({ databaseUrl, max: 5, schema })
  return {
    pool,
    schema,
    databaseUrl,
    async truncate() {
      await pool.query(
        'truncate tasks, task_statuses, task_results, outbox, flow_keys, task_idempotency restart identity',
      )
    },
    async close() {
      try {
        await pool.query(`drop schema ${schema} cascade`)
      } finally {
        await pool.end()
      }
    },
  }
}
