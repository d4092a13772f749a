import { expect, it } from 'vitest'
import type { Exit } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// A 201 is a promise: the task, its first status and its outbox entry committed together before the answer left.
// So a server killed mid-burst may fail requests, but never loses one it answered 201.
const e2e = useE2e('server-crash')
const TOTAL = 2000
const CONCURRENCY = 50
const KILL_AFTER_CREATED = 600

type Outcome = { index: number; status: number; id: string | null; error?: string }

it('sends every task that got a 201 when the server is killed with kill -9 mid-burst', async () => {
  const target = await e2e.startTarget()
  await e2e.startTasker()
  const server = await e2e.startServer()
  const api = e2e.api(server, CONCURRENCY)

  // 1. 2,000 concurrent POSTs; the server dies with kill -9 right after the 600th 201.
  let created = 0
  let killed: Promise<Exit> | undefined
  const outcomes = await mapConcurrently(
    Array.from({ length: TOTAL }, (_, i) => i),
    CONCURRENCY,
    async (index): Promise<Outcome> => {
      try {
        const { status, id } = await api.submit({
          method: 'POST',
          url: `${target.url}/burst/${index}`,
          body: `${index}`,
        })
        if (status === 201 && ++created === KILL_AFTER_CREATED) killed = server.kill()
        return { index, status, id }
      } catch (err) {
        return { index, status: 0, id: null, error: (err as NodeJS.ErrnoException).code ?? String(err) }
      }
    },
  )
  expect(await killed).toEqual({ code: null, signal: 'SIGKILL' })
  const accepted = outcomes.filter((o) => o.status === 201)
  const failed = outcomes.filter((o) => o.status !== 201)
  // Every failure is a dropped or refused connection, never an answer other than 201.
  expect(failed.filter((o) => o.status !== 0)).toEqual([])
  expect(accepted.length).toBeGreaterThanOrEqual(KILL_AFTER_CREATED)
  expect(failed.length).toBeGreaterThan(0)

  // 2. The server comes back on its port; every task it answered 201 is sent and reads as done through it.
  const restarted = await e2e.startServer({ PORT: String(server.port) })
  expect(restarted.url).toBe(server.url)
  const acceptedIds = accepted.map((o) => o.id!)
  await expect
    .poll(
      async () => {
        const { rows } = await e2e.db.pool.query<{ n: number }>(
          `select count(*)::int as n from tasks where id = any($1::uuid[]) and status = 'done'`,
          [acceptedIds],
        )
        return rows[0]!.n
      },
      { timeout: 60_000, interval: 200 },
    )
    .toBe(accepted.length)
  const views = await mapConcurrently(acceptedIds, CONCURRENCY, (id) => api.get(id))
  expect(views.filter((v) => v.status !== 200 || v.json.status !== 'done')).toEqual([])

  // 3. The target got each of them exactly once: no crash of the tasker here, so no resend either.
  const hits = target.hits()
  expect(accepted.filter((o) => hits.get(`/burst/${o.index}`) !== 1).map((o) => o.index)).toEqual([])
  // A request whose commit beat the kill but whose 201 did not reach the client is stored, and sent all the same.
  const stored = Number((await e2e.db.pool.query('select count(*) from tasks')).rows[0].count)
  await expect.poll(() => e2e.statusCounts(), { timeout: 30_000 }).toEqual({ done: stored })

  console.log(
    `kill -9 server: ${TOTAL} requests, ${accepted.length} got 201, ${failed.length} failed ` +
      `(${[...new Set(failed.map((o) => o.error))].join(', ')}); ` +
      `${stored - accepted.length} stored without their 201 reaching the client`,
  )
})
