import { beforeAll, describe, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import type { TaskApi } from '../support/task-api.js'

// Retries and delayed tasks go through Postgres and the outbox, never through timers in a tasker: a retryable
// answer (or a delay at submission) schedules the task, the scheduler queues it when due, and every attempt stays
// readable.
const e2e = useE2e('retries')
let api: TaskApi

beforeAll(async () => {
  const server = await e2e.startServer()
  await e2e.startTasker({ SCHEDULE_INTERVAL_MS: '50' })
  api = e2e.api(server)
})

const quickly = { backoff: { baseMs: 20, maxMs: 100 } }

describe('retries', () => {
  it('sends again after two 503s and ends done with the 200, every attempt listed', async () => {
    let calls = 0
    const target = await e2e.startTarget(() => (++calls <= 2 ? { status: 503, body: 'busy' } : { body: 'fine' }))

    const { id } = await api.submit({
      method: 'GET',
      url: `${target.url}/flaky`,
      retry: { maxAttempts: 5, ...quickly },
    })
    const task = await api.waitUntilFinished(id!)

    expect(target.requests.map((r) => r.url)).toEqual(['/flaky', '/flaky', '/flaky'])
    expect(task).toMatchObject({ status: 'done', attemptCount: 3, httpStatusCode: 200, body: 'fine' })
    expect(task.attempts).toEqual(
      [1, 2, 3].map((n, i) => ({
        n,
        startedAt: expect.any(String),
        durationMs: expect.any(Number),
        httpStatusCode: i < 2 ? 503 : 200,
      })),
    )
    expect(task.history.map((h) => h.status)).toEqual([
      'new',
      'in_process',
      'scheduled',
      'new',
      'in_process',
      'scheduled',
      'new',
      'in_process',
      'done',
    ])
    expect(task).not.toHaveProperty('nextAttemptAt')
  })

  it('gives up with error after maxAttempts answers of 500, keeping the last response', async () => {
    const target = await e2e.startTarget(() => ({ status: 500, body: 'broken' }))

    const { id } = await api.submit({
      method: 'POST',
      url: `${target.url}/down`,
      body: 'x',
      retry: { maxAttempts: 2, ...quickly },
    })
    const task = await api.waitUntilFinished(id!)

    expect(target.requests).toHaveLength(2)
    expect(task).toMatchObject({ status: 'error', attemptCount: 2, httpStatusCode: 500, body: 'broken' })
    expect(task.attempts.map((a) => [a.n, a.httpStatusCode])).toEqual([
      [1, 500],
      [2, 500],
    ])
    expect(task.history.map((h) => h.status)).toEqual(['new', 'in_process', 'scheduled', 'new', 'in_process', 'error'])
  })

  it('shows a task waiting for its next attempt as scheduled, with when it is due', async () => {
    const target = await e2e.startTarget(() => ({ status: 429, headers: [['Retry-After', '3600']] }))

    const { id } = await api.submit({
      method: 'GET',
      url: `${target.url}/later`,
      retry: { maxAttempts: 2, backoff: { baseMs: 10, maxMs: 60_000 } },
    })
    await expect.poll(async () => (await api.get(id!)).json.status, { timeout: 15_000, interval: 50 }).toBe('scheduled')
    const task = (await api.get(id!)).json

    // Retry-After asks for an hour; the task's maxMs caps the wait at a minute, counted from just before the
    // result was stored (updatedAt).
    const waitMs = Date.parse(task.nextAttemptAt as string) - Date.parse(task.updatedAt as string)
    expect(waitMs).toBeGreaterThan(59_000)
    expect(waitMs).toBeLessThanOrEqual(60_000)
    expect(task).toMatchObject({ attemptCount: 1, attempts: [{ n: 1, httpStatusCode: 429 }] })
    expect(task).not.toHaveProperty('httpStatusCode')
    expect(target.requests).toHaveLength(1)
  })

  it('holds a task submitted with a delay as scheduled, then sends it once due', async () => {
    const target = await e2e.startTarget(() => ({ body: 'on time' }))

    const submittedAt = Date.now()
    const { id } = await api.submit({ method: 'GET', url: `${target.url}/delayed`, delayMs: 1_500 })
    const waiting = (await api.get(id!)).json
    const task = await api.waitUntilFinished(id!)

    expect(waiting).toMatchObject({ status: 'scheduled', attemptCount: 0, attempts: [] })
    expect(Date.parse(waiting.nextAttemptAt as string)).toBeGreaterThanOrEqual(submittedAt + 1_500 - 50)
    expect(Date.parse(task.attempts[0]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(waiting.nextAttemptAt as string))
    expect(task).toMatchObject({ status: 'done', attemptCount: 1, body: 'on time' })
    expect(task.history.map((h) => h.status)).toEqual(['scheduled', 'new', 'in_process', 'done'])
    expect(target.requests).toHaveLength(1)
  })

  it('announces a task that gave up on the dead-letter topic, and sends it again when retried', async () => {
    const letters: Array<{ key: string; value: unknown }> = []
    const reader = e2e.kafka.kafka.consumer({ groupId: e2e.kafka.groupId('dead-letter-reader') })
    await reader.connect()
    await reader.subscribe({ topics: [e2e.kafka.topics.deadLetters], fromBeginning: true })
    await reader.run({
      eachMessage: async ({ message }) => {
        letters.push({ key: message.key!.toString(), value: JSON.parse(message.value!.toString()) })
      },
    })
    try {
      const target = await e2e.startTarget(() => ({ status: 500, body: 'broken' }))
      const { id } = await api.submit({ method: 'GET', url: `${target.url}/redrive`, retry: { maxAttempts: 1 } })
      const failed = await api.waitUntilFinished(id!)
      expect(failed).toMatchObject({ status: 'error', attemptCount: 1, httpStatusCode: 500 })

      await expect
        .poll(() => letters.filter((l) => l.key === id), { timeout: 30_000 })
        .toEqual([
          {
            key: id,
            value: {
              version: 1,
              reason: 'gave-up',
              taskId: id,
              attemptCount: 1,
              lastAttempt: {
                n: 1,
                startedAt: failed.attempts[0]!.startedAt,
                durationMs: failed.durationMs,
                httpStatusCode: 500,
              },
            },
          },
        ])

      target.reply(() => ({ body: 'mended' }))
      const retried = await api.retry(id!)
      expect(retried).toMatchObject({ status: 200, json: { id, status: 'new' } })
      const done = await api.waitUntilFinished(id!)

      expect(done).toMatchObject({ status: 'done', attemptCount: 2, httpStatusCode: 200, body: 'mended' })
      expect(done.attempts.map((a) => [a.n, a.httpStatusCode])).toEqual([
        [1, 500],
        [2, 200],
      ])
      expect(done.history.map((h) => h.status)).toEqual(['new', 'in_process', 'error', 'new', 'in_process', 'done'])
      expect(await api.retry(id!)).toMatchObject({
        status: 409,
        json: {
          type: '/problems/task-not-retryable',
          detail: `task ${id} is done; only a task in error can be retried`,
          taskStatus: 'done',
        },
      })
    } finally {
      await reader.disconnect()
    }
  })

  it('never sends a delayed task cancelled before its time', async () => {
    const target = await e2e.startTarget(() => ({ body: 'ok' }))

    const withdrawn = await api.submit({ method: 'GET', url: `${target.url}/withdrawn`, delayMs: 1_000 })
    expect(await api.cancel(withdrawn.id!)).toMatchObject({ status: 200, json: { status: 'cancelled' } })
    // A task due after the cancelled one: once it is done, the scheduler has passed the cancelled one's time.
    const later = await api.submit({ method: 'GET', url: `${target.url}/later`, delayMs: 1_200 })
    await api.waitUntilFinished(later.id!)

    expect(target.requests.map((r) => r.url)).toEqual(['/later'])
    expect((await api.get(withdrawn.id!)).json).toMatchObject({
      status: 'cancelled',
      attemptCount: 0,
      history: [{ status: 'scheduled' }, { status: 'cancelled' }],
    })
    expect(await api.cancel(withdrawn.id!)).toMatchObject({
      status: 409,
      json: { type: '/problems/task-not-cancellable' },
    })
  })
})
