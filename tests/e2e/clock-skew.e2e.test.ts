import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// Taskers on hosts whose clocks disagree. Every lease and due time is set and compared with the database's clock,
// so a tasker whose clock runs ten minutes ahead neither takes back the sends of another (their leases look long
// run out to it) nor sends a task before its notBefore.
const e2e = useE2e('clock-skew')
const SKEWED = fileURLToPath(new URL('../support/clock-skew.mjs', import.meta.url))
const SLOW = 200
const LATER = 20

it('keeps leases and due times on one clock when a tasker runs ten minutes ahead', async () => {
  const arrivals = new Map<string, number>()
  const target = await e2e.startTarget((req) => {
    arrivals.set(req.url, Date.now())
    return { delayMs: req.url.startsWith('/slow/') ? 1500 : 0 }
  })
  const api = e2e.api(await e2e.startServer(), 20)
  const env = { LEASE_GRACE_MS: '1000', SWEEP_INTERVAL_MS: '200', SCHEDULE_INTERVAL_MS: '100', SEND_CONCURRENCY: '50' }
  // 1. A tasker on a true clock, and one ten minutes ahead (its sweeper and scheduler run as often as the other's).
  await e2e.startTasker(env)
  await e2e.startTasker({ ...env, NODE_OPTIONS: `--import=${SKEWED}`, CLOCK_SKEW_MS: String(10 * 60 * 1000) })

  // 2. Sends that take 1.5 s of a 2 s timeout, and tasks not to be sent before 3 s from now.
  const notBefore = new Date(Date.now() + 3000)
  const slow = await mapConcurrently(
    Array.from({ length: SLOW }, (_, i) => i),
    20,
    (i) => api.submit({ method: 'GET', url: `${target.url}/slow/${i}`, timeoutMs: 2000 }),
  )
  const later = await mapConcurrently(
    Array.from({ length: LATER }, (_, i) => i),
    20,
    (i) => api.submit({ method: 'GET', url: `${target.url}/later/${i}`, notBefore: notBefore.toISOString() }),
  )
  expect([...slow, ...later].filter((s) => s.status !== 201)).toEqual([])
  await expect.poll(() => e2e.statusCounts(), { timeout: 120_000, interval: 250 }).toEqual({ done: SLOW + LATER })

  // 3. No send was taken back (each slow task reached the target once), and none went before its time.
  const hits = target.hits()
  const twice = [...hits.entries()].filter(([, n]) => n > 1).map(([url]) => url)
  const early = [...arrivals.entries()]
    .filter(([url, at]) => url.startsWith('/later/') && at < notBefore.getTime())
    .map(([url]) => url)
  expect({ twice, early, sent: hits.size }).toEqual({ twice: [], early: [], sent: SLOW + LATER })
  console.log(`clock skew: ${SLOW} slow sends and ${LATER} delayed tasks, none sent twice or early`)
})
