import { expect, it } from 'vitest'
import type { AppProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// A request that kills its tasker every time it is sent (a crash in a parser, an out-of-memory answer) must not be
// tried forever, taking every other task in flight down with it each time: an attempt cut short counts, and once
// the task's attempts are spent the sweeper ends it `error` with the code `interrupted`.
const e2e = useE2e('poison-task')
const OTHERS = 300
const MAX_ATTEMPTS = 3
// Short leases and the broker's shortest session, so each death costs seconds: a lease is timeoutMs plus the grace.
const TASKER_ENV = {
  LEASE_GRACE_MS: '1000',
  SWEEP_INTERVAL_MS: '300',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  SEND_CONCURRENCY: '20',
}

it(`ends a task that kills its tasker each time in error after ${MAX_ATTEMPTS} attempts, and sends the rest`, async () => {
  // 1. The target kills whichever tasker is running when the poison request arrives; the others it answers.
  let current: AppProcess | undefined
  const target = await e2e.startTarget((req) => {
    if (req.url === '/poison') void current?.kill()
    return { delayMs: 20 }
  })
  const api = e2e.api(await e2e.startServer(), 20)
  const poison = await api.submit({
    method: 'POST',
    url: `${target.url}/poison`,
    timeoutMs: 2000,
    retry: { maxAttempts: MAX_ATTEMPTS },
  })
  const others = await mapConcurrently(
    Array.from({ length: OTHERS }, (_, i) => i),
    20,
    (i) => api.submit({ method: 'POST', url: `${target.url}/ok/${i}`, timeoutMs: 2000, retry: { maxAttempts: 10 } }),
  )
  expect([poison, ...others].filter((s) => s.status !== 201)).toEqual([])

  // 2. A supervisor starts a tasker again whenever one dies, until the poison task is settled.
  let deaths = 0
  const settled = async () => (await api.get(poison.id!)).json.status
  while (!['done', 'error'].includes(await settled())) {
    current = await e2e.startTasker(TASKER_ENV, 120_000)
    const exit = await Promise.race([current.exited, waitFor(settled, (s) => s === 'error', 120_000)])
    if (exit && typeof exit === 'object') deaths++
    expect(deaths).toBeLessThanOrEqual(MAX_ATTEMPTS)
  }

  // 3. It ended error on its own code, having reached the target exactly as often as it had attempts.
  const task = (await api.get(poison.id!)).json
  expect(task).toMatchObject({
    status: 'error',
    attemptCount: MAX_ATTEMPTS,
    error: { code: 'interrupted', message: expect.stringContaining('stopped before it ended') },
  })
  expect(target.hits().get('/poison')).toBe(MAX_ATTEMPTS)
  expect(deaths).toBe(MAX_ATTEMPTS)
  // Every other task was sent and ended done, however many times a death interrupted it.
  await expect
    .poll(() => e2e.statusCounts(), { timeout: 120_000, interval: 250 })
    .toEqual({
      done: OTHERS,
      error: 1,
    })
  console.log(
    `poison task: ${deaths} tasker deaths, then error/interrupted after ${MAX_ATTEMPTS} attempts; ` +
      `${OTHERS} other tasks done`,
  )
})

/** Resolves with the value once `read` gives one that `ok` accepts, polling every 200 ms. */
async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
