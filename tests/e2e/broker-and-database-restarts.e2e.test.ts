import { expect, it, onTestFinished } from 'vitest'
import type { AppProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import { usePrivateInfra } from '../support/private-infra.js'
import type { TargetServer } from '../support/target-server.js'
import { mapConcurrently, type TaskApi } from '../support/task-api.js'

// Kafka and Postgres go away and come back on their own ports while both apps keep running: the apps must find
// them again by themselves, lose no task, and the server must answer quickly (503) rather than hang meanwhile.
// They are this file's own services, so stopping them disturbs no other test.
const infra = usePrivateInfra()
const e2e = useE2e('broker-and-database-restarts', () => ({
  databaseUrl: infra.databaseUrl,
  kafkaBrokers: infra.kafkaBrokers,
}))
// The default Kafka session (6 s), as deployed: the group must settle again soon after the broker is back.
const TASKER_ENV = { RELAY_POLL_MS: '200' }

let submittedCount = 0
async function submitBatch(api: TaskApi, target: TargetServer, label: string, count: number): Promise<string[]> {
  const indices = Array.from({ length: count }, (_, i) => i)
  const submitted = await mapConcurrently(indices, 20, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/${label}/${i}`, body: `${label} ${i}` }),
  )
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])
  submittedCount += count
  return submitted.map((s) => s.id!)
}

/** The process has not exited: it recovered on its own, nobody restarted it. */
function stillRunning(app: AppProcess): () => boolean {
  let exited = false
  void app.exited.then(() => {
    exited = true
  })
  return () => !exited
}

it('keeps every task through a Kafka restart, the apps reconnecting by themselves', async () => {
  const target = await e2e.startTarget(() => ({ delayMs: 5 }))
  const server = await e2e.startServer()
  const tasker = await e2e.startTasker(TASKER_ENV)
  const taskerAlive = stillRunning(tasker)
  const api = e2e.api(server, 20)

  await submitBatch(api, target, 'before', 200)
  await expect.poll(async () => (await e2e.statusCounts()).done ?? 0, { timeout: 30_000 }).toBeGreaterThan(0)

  // The broker stops (controlled shutdown) mid-run; submissions only write the outbox, so they keep succeeding.
  await infra.down('kafka')
  await submitBatch(api, target, 'during', 200)
  // The tasker has noticed: its readiness names the broker (and it keeps running).
  const health = String((await tasker.waitForLog((l) => l.msg === 'health server listening')).url)
  await expect
    .poll(async () => (await fetch(`${health}/health/ready`)).json(), { timeout: 30_000, interval: 250 })
    .toMatchObject({ status: 503, errors: [{ path: 'kafka' }] })
  await infra.up('kafka')
  await expect
    .poll(async () => (await fetch(`${health}/health/ready`)).status, { timeout: 60_000, interval: 250 })
    .toBe(200)
  await submitBatch(api, target, 'after', 200)

  await expect.poll(() => e2e.statusCounts(), { timeout: 120_000, interval: 250 }).toEqual({ done: submittedCount })
  expect(taskerAlive()).toBe(true)
  const hits = [...target.hits().values()]
  expect({ sent: hits.length, neverSent: submittedCount - hits.length }).toEqual({ sent: 600, neverSent: 0 })
  const duplicated = hits.filter((n) => n > 1).length
  // No process died, so no claim was abandoned: a redelivered message finds its task claimed and sends nothing.
  expect(duplicated).toBe(0)
  console.log(`kafka restart: 600 tasks, 0 lost, ${duplicated} duplicated, tasker reconnected by itself`)
})

it('answers 503 problem+json at once while Postgres is down, and takes tasks again once it is back', async () => {
  // Answers take a while, so some are on their way when Postgres stops, their results still to be stored.
  const target = await e2e.startTarget(() => ({ delayMs: 500 }))
  const server = await e2e.startServer()
  const tasker = await e2e.startTasker(TASKER_ENV)
  const serverAlive = stillRunning(server)
  const taskerAlive = stillRunning(tasker)
  const api = e2e.api(server, 20)
  const before = await submitBatch(api, target, 'pg-before', 100)
  const earlier = submittedCount - 100
  let slowestMs = 0

  await expect.poll(() => target.requests.length - target.answered(), { timeout: 30_000 }).toBeGreaterThan(10)
  await infra.down('pg')
  onTestFinished(() => infra.up('pg')) // a no-op once it is up; else the file's teardown needs it
  // Each request ends within a few seconds, with the problem a client can act on (retry later).
  for (let i = 0; i < 5; i++) {
    const started = performance.now()
    const submitted = await api.submit({ method: 'GET', url: `${target.url}/refused/${i}` })
    const read = await api.get(before[i]!)
    const elapsedMs = performance.now() - started
    expect({ submitted: submitted.status, body: submitted.body, read: read.status, type: read.json.type }).toEqual({
      submitted: 503,
      body: expect.objectContaining({ type: '/problems/database-unavailable', status: 503 }),
      read: 503,
      type: '/problems/database-unavailable',
    })
    expect(elapsedMs).toBeLessThan(5_000)
    slowestMs = Math.max(slowestMs, elapsedMs)
  }
  const ready = await fetch(`${server.url}/health/ready`)
  expect({ status: ready.status, type: ready.headers.get('content-type') }).toEqual({
    status: 503,
    type: expect.stringMatching(/^application\/problem\+json/),
  })

  // Postgres comes back only after every request in flight was answered: those results met the outage.
  await expect.poll(() => target.requests.length - target.answered(), { timeout: 10_000 }).toBe(0)
  await infra.up('pg')
  // The pool opens new connections on demand: the first submission after the restart may still meet a dead one.
  await expect
    .poll(async () => (await api.submit({ method: 'GET', url: `${target.url}/probe` })).status, { timeout: 20_000 })
    .toBe(201)
  submittedCount++
  await submitBatch(api, target, 'pg-after', 100)

  await expect.poll(() => e2e.statusCounts(), { timeout: 60_000, interval: 250 }).toEqual({ done: submittedCount })
  expect({ server: serverAlive(), tasker: taskerAlive() }).toEqual({ server: true, tasker: true })
  // Refused submissions stored nothing; accepted ones were each sent once: no process died, so a result whose
  // write met the outage must still be stored, not left to a lease expiry and a second send.
  const hits = target.hits()
  const duplicated = [...hits].filter(([, n]) => n > 1).map(([url]) => url)
  expect({ refused: [0, 1, 2, 3, 4].filter((i) => hits.has(`/refused/${i}`)), duplicated }).toEqual({
    refused: [],
    duplicated: [],
  })
  console.log(
    `postgres restart: ${submittedCount - earlier} tasks around the outage, 0 lost, 0 duplicated, all done; ` +
      `while it was down the server answered 503 within ${Math.ceil(slowestMs)} ms`,
  )
})
