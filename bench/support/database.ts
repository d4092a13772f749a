import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { runMigrations } from '../../packages/infrastructure/dist/index.js'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url))

/** A database of its own per scenario: no rows, outbox or NOTIFY of another run or test can reach it. */
export type BenchDatabase = {
  readonly name: string
  readonly url: string
  readonly pool: pg.Pool
  drop(): Promise<void>
}

export async function createBenchDatabase(serverUrl: string, name: string): Promise<BenchDatabase> {
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.query(`create database ${name}`)
  } finally {
    await admin.end()
  }
  const url = Object.assign(new URL(serverUrl), { pathname: `/${name}` }).href
  await runMigrations({ databaseUrl: url, dir: MIGRATIONS_DIR })
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  // pool.end() resolves once it has asked its connections to close, not once they have: the drop below (with
  // force) can still terminate one, whose error the pool re-emits. That error is the drop working, not a failure.
  pool.on('error', () => {})
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end()
      await dropDatabases(serverUrl, [name])
    },
  }
}

export async function dropDatabases(serverUrl: string, names: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    for (const name of names) await admin.query(`drop database if exists ${name} with (force)`)
  } finally {
    await admin.end()
  }
}

/** Databases left by an earlier run that died before its clean-up. */
export async function staleBenchDatabases(serverUrl: string, prefix: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname like $1 || '%'`,
      [prefix],
    )
    return rows.map((r) => r.datname)
  } finally {
    await admin.end()
  }
}

/**
 * Queues `count` copies of a task the server wrote (`templateId`), each with its outbox entry, in one statement: the
 * drain scenarios measure the tasker, not how fast rows got there. Copying the server's own row keeps every column
 * as the server fills it (its first status included), whatever the schema grows; only id, URL (round-robin over
 * `urls`), flow-control key (round-robin over `flowKeys`, by default each URL's origin, as the server sets it) and
 * times change.
 */
export async function queueTasks(
  db: BenchDatabase,
  templateId: string,
  count: number,
  urls: string[],
  flowKeys: string[] = urls.map((u) => new URL(u).origin),
): Promise<void> {
  const { rowCount } = await db.pool.query(
    `with copies as (
       insert into tasks
       select (jsonb_populate_record(t, jsonb_build_object(
                 'id', gen_random_uuid(),
                 'url', ($3::text[])[1 + i % cardinality($3::text[])],
                 'flow_key', ($4::text[])[1 + i % cardinality($4::text[])],
                 'created_at', now(),
                 'updated_at', now()))).*
       from tasks t, generate_series(1, $2::integer) i
       where t.id = $1
       returning id
     )
     insert into outbox (kind, task_id) select 'task.requested', id from copies`,
    [templateId, count, urls, flowKeys],
  )
  if (rowCount !== count) throw new Error(`queued ${rowCount} of ${count} tasks: is ${templateId} in tasks?`)
}

export type Finished = { done: number; error: number; firstCreatedMs: number; lastFinishedMs: number }

/**
 * Polls until `expected` tasks are done or failed. The end time comes from the rows (their last `updated_at`), so
 * it does not depend on how often this polls. `check` runs every poll: a dead app ends the wait at once.
 */
export async function waitForFinished(
  db: BenchDatabase,
  expected: number,
  { timeoutMs, check }: { timeoutMs: number; check: () => void },
): Promise<Finished> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await db.pool.query<{ done: number; error: number }>(
      `select count(*) filter (where status = 'done')::integer as done,
              count(*) filter (where status = 'error')::integer as error
       from tasks`,
    )
    const { done, error } = rows[0]!
    if (done + error >= expected) break
    check()
    if (Date.now() > deadline) throw new Error(`${done + error} of ${expected} tasks finished within ${timeoutMs} ms`)
    await sleep(500) // a count over every task costs Postgres CPU that the apps would otherwise get
  }
  const { rows } = await db.pool.query<{ done: number; error: number; first: number; last: number }>(
    `select count(*) filter (where status = 'done')::integer as done,
            count(*) filter (where status = 'error')::integer as error,
            extract(epoch from min(created_at)) * 1000 as first,
            extract(epoch from max(updated_at)) * 1000 as last
     from tasks`,
  )
  const row = rows[0]!
  return { done: row.done, error: row.error, firstCreatedMs: Number(row.first), lastFinishedMs: Number(row.last) }
}
