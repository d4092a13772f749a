// B1's server, as its own process: a bare Fastify route that parses the same JSON as POST /tasks and does ONE
// INSERT of a row of the same size into a table of the bench's own, shaped like the first `tasks` (whose later
// columns the bench need not track). No auth, validation, logging, status or outbox row: the ceiling of "HTTP in,
// one durable commit, 201 out" on this machine. Env: DATABASE_URL, PORT, DATABASE_POOL_MAX.
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import pg from 'pg'

// Fastify is the server app's dependency, not the root's: load the very same copy the app runs.
const fromServer = createRequire(new URL('../../apps/server/package.json', import.meta.url))
const { default: Fastify } = (await import(
  pathToFileURL(fromServer.resolve('fastify')).href
)) as typeof import('../../apps/server/node_modules/fastify/fastify.js')

type Body = { method: string; url: string; headers?: Record<string, string>; timeoutMs?: number }

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_MAX ?? 10),
})
await pool.query(`create table if not exists bare_tasks (
  id uuid primary key,
  owner_key_id text not null,
  method text not null,
  url text not null,
  request_headers jsonb not null,
  request_body bytea,
  timeout_ms integer not null,
  status text not null,
  attempts integer not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
)`)
const app = Fastify({ logger: false })

app.post<{ Body: Body }>('/tasks', async function bareSubmit(req, reply) {
  const { method, url, headers = {}, timeoutMs = 10_000 } = req.body
  const id = randomUUID()
  const now = new Date()
  await pool.query(
    `insert into bare_tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                        created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [id, 'bench', method, url, JSON.stringify(Object.entries(headers)), null, timeoutMs, 'new', 0, now, now],
  )
  return reply.code(201).send({ id })
})

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log(JSON.stringify({ msg: 'listening', port: Number(process.env.PORT) }))

process.once('SIGTERM', async () => {
  await app.close()
  await pool.end()
  process.exit(0)
})
