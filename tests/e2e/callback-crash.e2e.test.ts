import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import type { ReceivedRequest } from '../support/target-server.js'
import { mapConcurrently, type TaskJson } from '../support/task-api.js'

// A task's end and its callback are written by one statement, so a tasker killed with kill -9 between the two (the
// task done, its callback not yet delivered) loses no callback: the next tasker delivers it.
const e2e = useE2e('callback-crash')
const TOTAL = 200
const SECRETS_KEYS = `k1:${randomBytes(32).toString('base64')}`
// Short leases: a callback the dead tasker was sending comes back after its timeout (2 s, DEFAULT_TIMEOUT_MS) plus 1 s.
const TASKER = { SECRETS_KEYS, LEASE_GRACE_MS: '1000', SWEEP_INTERVAL_MS: '200', KAFKA_SESSION_TIMEOUT_MS: '10000' }

const headersOf = (req: ReceivedRequest) => {
  const headers: Record<string, string> = {}
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!
  return headers
}

it('delivers every callback when the tasker is killed after the tasks ended and before their callbacks arrived', async () => {
  const target = await e2e.startTarget(() => ({}))
  // The receiver holds its first answers (longer than a callback's timeout), so callbacks are in flight at the kill.
  let holding = true
  const receiver = await e2e.startTarget(() => (holding ? { delayMs: 5_000 } : {}))
  const api = e2e.api(await e2e.startServer({ SECRETS_KEYS, DEFAULT_TIMEOUT_MS: '2000' }), 20)
  const { secret } = (await api.createSigningSecret()).json
  const submitted = await mapConcurrently([...Array(TOTAL).keys()], 20, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/t/${i}`, body: `${i}`, callback: { url: `${receiver.url}/cb` } }),
  )
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])

  // 1. The first tasker ends every task and starts on their callbacks; it dies with kill -9 once all the tasks are
  //    done and callbacks are reaching the receiver, none answered.
  const first = await e2e.startTasker(TASKER)
  await expect
    .poll(async () => (await e2e.statusCounts()).done ?? 0, { timeout: 60_000, interval: 20 })
    .toBeGreaterThanOrEqual(TOTAL)
  await expect.poll(() => receiver.requests.length, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0)
  expect(await first.kill()).toEqual({ code: null, signal: 'SIGKILL' })
  await expect.poll(() => e2e.databaseSessions(first), { timeout: 10_000, interval: 20 }).toBe(0)
  const atKill = { received: receiver.requests.length, answered: receiver.answered() }
  holding = false

  // 2. A second tasker delivers every callback: those in flight once their leases run out, the rest as queued.
  const started = performance.now()
  await e2e.startTasker(TASKER)
  const settled = async () =>
    (await mapConcurrently(submitted, 20, async (s) => (await api.get(s.id!)).json)).filter(
      (t: TaskJson) => (t.callback as { status?: string } | undefined)?.status === 'done',
    ).length
  await expect.poll(settled, { timeout: 90_000, interval: 500 }).toBe(TOTAL)
  const recoveredMs = Math.round(performance.now() - started)

  // Each task's callback reached the receiver verified, carrying its end; some twice (in flight at the kill).
  const byTask = new Map<string, number>()
  for (const req of receiver.requests) {
    const doc = new Webhook(secret).verify(req.body.toString('utf8'), headersOf(req)) as {
      taskId: string
      status: string
    }
    expect(doc.status).toBe('done')
    byTask.set(doc.taskId, (byTask.get(doc.taskId) ?? 0) + 1)
  }
  expect([...byTask.keys()].sort()).toEqual(submitted.map((s) => s.id).sort())
  expect(atKill.answered).toBe(0)
  console.info(
    `[callback-crash] at the kill: ${TOTAL} tasks done, ${atKill.received} callbacks in flight, 0 answered; ` +
      `all ${TOTAL} callbacks delivered ${recoveredMs} ms after the second tasker started; ` +
      `${receiver.requests.length - TOTAL} deliveries were repeats`,
  )
})
