import pg from 'pg'
import type { Logger } from '../logger.js'

/** Anything that runs a query: the pool itself, or one client holding a transaction. */
export type Queryable = pg.Pool | pg.PoolClient

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/

export function createPool(options: {
  databaseUrl: string
  max: number
  schema?: string
  log?: Logger
  /** How long a checkout may wait for a free (or new) connection before it fails; unbounded when absent. */
  acquireTimeoutMs?: number
}): pg.Pool {
  const { databaseUrl, max, schema, log, acquireTimeoutMs } = options
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name: ${schema}`)
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    ...(acquireTimeoutMs === undefined ? {} : { connectionTimeoutMillis: acquireTimeoutMs }),
    // A startup parameter, so every connection sees the schema from its first query, with no query per checkout.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  })
  // An idle connection that the server or network drops emits 'error' on the pool, and an unhandled 'error'
  // event ends the process. The pool has already discarded that connection; the next checkout opens a new one.
  pool.on('error', (err) => log?.warn({ err }, 'idle database connection failed'))
  return pool
}
