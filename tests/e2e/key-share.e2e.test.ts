import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently, taskApi } from '../support/task-api.js'

// One API key whose targets never answer, with long timeouts, must not hold every send slot: its share is capped
// (SEND_SLOTS_PER_KEY), its other tasks wait key-busy without spending attempts, and a second key's tasks flow.
const e2e = useE2e('key-share')
const OTHER_KEY = 'second-key-secret'
const GREEDY = 200
const OTHER = 100

const silent = createServer(() => {}) // headers never come
afterAll(() => {
  silent.closeAllConnections()
  silent.close()
})

it("sends a second key's tasks at once while the first key's tasks hang on a target that never answers", async () => {
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
  const target = await e2e.startTarget()
  const server = await e2e.startServer({ API_KEYS: `e2e:e2e-secret-key,second:${OTHER_KEY}` })
  await e2e.startTasker({
    API_KEYS: `e2e:e2e-secret-key,second:${OTHER_KEY}`,
    SEND_CONCURRENCY: '20',
    SEND_SLOTS_PER_KEY: '10',
  })
  const greedy = e2e.api(server, 20)
  const other = taskApi(server.url, OTHER_KEY, 20)

  // 1. The first key fills the queue with tasks that hold a slot for 10 s each.
  const stuck = await mapConcurrently(
    Array.from({ length: GREEDY }, (_, i) => i),
    20,
    (i) => greedy.submit({ method: 'GET', url: `${silentUrl}/${i}`, timeoutMs: 10_000, retry: { maxAttempts: 1 } }),
  )
  await expect.poll(async () => (await e2e.statusCounts()).in_process ?? 0, { timeout: 30_000 }).toBe(10)

  // 2. The second key's tasks, submitted after, are all sent while the first key's wait.
  const started = Date.now()
  const flowing = await mapConcurrently(
    Array.from({ length: OTHER }, (_, i) => i),
    20,
    (i) => other.submit({ method: 'GET', url: `${target.url}/other/${i}` }),
  )
  const finished = await mapConcurrently(flowing, 20, (s) => other.waitUntilFinished(s.id!, 20_000))
  const seconds = (Date.now() - started) / 1000
  expect(finished.map((t) => t.status)).toEqual(flowing.map(() => 'done'))
  // All before the first stuck send timed out: the second key needed none of the slots they held.
  expect((await e2e.statusCounts()).error ?? 0).toBe(0)

  // 3. Of the first key, never more than its share in flight; the rest waited key-busy, no attempt spent.
  const { rows } = await e2e.db.pool.query<{ status: string; wait_reason: string | null; attempts: number; n: number }>(
    `select status, wait_reason, attempts, count(*)::int as n from tasks where owner_key_id = 'e2e'
     group by status, wait_reason, attempts order by status`,
  )
  expect(rows.find((r) => r.status === 'in_process')?.n ?? 0).toBeLessThanOrEqual(10)
  expect(
    rows.filter((r) => r.status === 'scheduled').every((r) => r.wait_reason === 'key-busy' && r.attempts === 0),
  ).toBe(true)
  expect(stuck.filter((s) => s.status !== 201)).toEqual([])
  await other.close()
  console.log(`key share: ${OTHER} tasks of a second key done in ${seconds.toFixed(1)} s beside ${GREEDY} stuck ones`)
})
