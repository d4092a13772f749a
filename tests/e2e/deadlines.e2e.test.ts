import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// A task past its deadline is never sent: not when it waited too long for a tasker, and not as a retry that would
// start too late.
const e2e = useE2e('deadlines')

it('never sends the tasks whose deadline passed while no tasker ran, and sends the others', async () => {
  const target = await e2e.startTarget(() => ({}))
  const api = e2e.api(await e2e.startServer(), 20)
  const deadline = Date.now() + 2_000
  const expiresAt = new Date(deadline).toISOString()
  const late = await mapConcurrently([...Array(300).keys()], 20, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/late/${i}`, body: 'x', expiresAt }),
  )
  const timely = await mapConcurrently([...Array(100).keys()], 20, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/timely/${i}`, body: 'x', maxRetryDurationMs: 600_000 }),
  )
  expect([...late, ...timely].filter((s) => s.status !== 201)).toEqual([])

  // The tasker starts only once the deadline has passed (the clock is polled, nothing sleeps a fixed time).
  await expect.poll(() => Date.now(), { timeout: 10_000, interval: 50 }).toBeGreaterThan(deadline)
  const started = performance.now()
  await e2e.startTasker()
  await expect.poll(async () => (await e2e.statusCounts()).new ?? 0, { timeout: 60_000, interval: 100 }).toBe(0)
  await expect
    .poll(async () => e2e.statusCounts(), { timeout: 60_000, interval: 100 })
    .toEqual({ done: 100, error: 300 })
  const settledMs = Math.round(performance.now() - started)

  expect(target.requests.filter((r) => r.url.startsWith('/late/'))).toEqual([])
  expect(target.requests.filter((r) => r.url.startsWith('/timely/'))).toHaveLength(100)
  const one = (await api.get(late[0]!.id!)).json
  expect(one).toMatchObject({ status: 'error', attemptCount: 0, attempts: [], expiresAt, error: { code: 'expired' } })
  expect(one.history.map((h) => h.status)).toEqual(['new', 'error'])
  console.info(
    `[deadlines] 300 expired tasks ended unsent and 100 others sent, ${settledMs} ms from the tasker's start`,
  )
})

it('does not start a retry that would start past the deadline, and shows the answer that asked for it', async () => {
  await e2e.startTasker({ SCHEDULE_INTERVAL_MS: '50' })
  const target = await e2e.startTarget(() => ({ status: 503, headers: [['Retry-After', '5']], body: 'later' }))
  const api = e2e.api(await e2e.startServer())

  const { id } = await api.submit({
    method: 'GET',
    url: `${target.url}/busy`,
    maxRetryDurationMs: 3_000,
    retry: { maxAttempts: 5 },
  })
  const task = await api.waitUntilFinished(id!)

  expect(target.requests).toHaveLength(1)
  expect(task).toMatchObject({
    status: 'error',
    attemptCount: 1,
    httpStatusCode: 503,
    body: 'later',
    error: { code: 'expired' },
  })
})
