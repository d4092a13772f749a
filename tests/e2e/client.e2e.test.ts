import { createTaskClient, RequestTaskerProblem, type TaskClient } from '@request-tasker/client'
import { beforeAll, describe, expect, it } from 'vitest'
import type { AppProcess, ServerProcess } from '../support/app-process.js'
import { API_KEY, useE2e } from '../support/e2e.js'
import { closedPort, type TargetServer } from '../support/target-server.js'

// packages/client against both apps as built, real Postgres and Kafka, and a local target: submit, batch, wait
// (long-polls woken by the trigger's NOTIFY as the tasker stores outcomes), list, cancel and retry in bulk,
// problems, traceparent from the client to the target, and both apps' metrics.
const e2e = useE2e('client')
let server: ServerProcess
let tasker: AppProcess
let target: TargetServer
let client: TaskClient
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const KiB = 1024

beforeAll(async () => {
  // At debug, so that the lines about a task that went well ('task submitted', 'task sent') are there to check.
  server = await e2e.startServer({ LOG_LEVEL: 'debug' })
  tasker = await e2e.startTasker({ LOG_LEVEL: 'debug' })
  target = await e2e.startTarget((req) => ({ status: req.url.startsWith('/missing') ? 404 : 200, body: 'ok' }))
  client = createTaskClient({ baseUrl: server.url, apiKey: API_KEY })
})

function header(req: { rawHeaders: readonly string[] }, name: string): string | undefined {
  const i = req.rawHeaders.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === name)
  return i === -1 ? undefined : req.rawHeaders[i + 1]
}

describe('the client against the running system', () => {
  it('submits, waits through the long-poll until the tasker stored the outcome, and carries the trace to the target', async () => {
    const { id, created } = await client.submit(
      { method: 'POST', url: `${target.url}/traced`, body: 'hi' },
      { traceparent: TRACE, idempotencyKey: 'traced-1' },
    )
    expect(created).toBe(true)

    const task = await client.wait(id, { timeoutMs: 30_000 })

    expect(task).toMatchObject({ id, status: 'done', httpStatusCode: 200, body: 'ok' })
    const sent = target.requests.find((r) => r.url === '/traced')!
    expect(header(sent, 'traceparent')).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(header(sent, 'traceparent')).not.toBe(TRACE)
    // Every line about the task names its trace, in both apps.
    const about = (app: AppProcess) => app.logLines().filter((l) => l.taskId === id)
    expect(about(server).map((l) => l.msg)).toContain('task submitted')
    expect(about(tasker).map((l) => l.msg)).toContain('task sent')
    for (const line of [...about(server), ...about(tasker)]) expect(line.traceparent).toBe(TRACE)
    expect(
      await client.submit({ method: 'POST', url: `${target.url}/traced`, body: 'hi' }, { idempotencyKey: 'traced-1' }),
    ).toEqual({
      id,
      created: false,
    })
  })

  it('stores a batch of 200 tasks with 64 KiB bodies in one go, and lists every one of them page by page', async () => {
    const body = 'x'.repeat(64 * KiB)
    const tasks = Array.from({ length: 200 }, (_, i) => ({
      method: 'PUT' as const,
      url: `${target.url}/batch/${i}`,
      body,
    }))
    const result = await client.submitBatch(tasks)
    expect(result).toMatchObject({ created: 200, repeated: 0, refused: 0 })
    const ids = result.results.map((r) => ('id' in r ? r.id : ''))

    const ended = await Promise.all(ids.map((id) => client.wait(id, { timeoutMs: 60_000 })))
    expect(ended.map((t) => t.status)).toEqual(Array(200).fill('done'))
    expect(target.requests.filter((r) => r.url.startsWith('/batch/') && r.body.length === 64 * KiB)).toHaveLength(200)

    const listed = []
    for await (const t of client.list({ destination: new URL(target.url).host, status: ['done'], limit: 37 })) {
      if (t.url.includes('/batch/')) listed.push(t.id)
    }
    expect(listed).toEqual([...ids].reverse())
  })

  it('holds 500 long-polls at once and answers each when its task ends (the client waits out any 503 shed)', async () => {
    const { results } = await client.submitBatch(
      Array.from({ length: 500 }, (_, i) => ({
        method: 'GET' as const,
        url: `${target.url}/many/${i}`,
        delayMs: 2_000,
      })),
    )
    const ids = results.map((r) => ('id' in r ? r.id : ''))
    const waits = ids.map((id) => client.wait(id, { timeoutMs: 60_000 }))
    const ended = await Promise.all(waits)
    expect(ended.map((t) => t.status)).toEqual(Array(500).fill('done'))
  })

  it('cancels the scheduled tasks of a destination and retries the ones in error, counting each once', async () => {
    const dead = await closedPort()
    const noRetry = { maxAttempts: 1 }
    const failing = await Promise.all(
      [1, 2, 3].map(
        async (i) => (await client.submit({ method: 'GET', url: `http://127.0.0.1:${dead}/${i}`, retry: noRetry })).id,
      ),
    )
    for (const id of failing) expect((await client.wait(id, { timeoutMs: 30_000 })).status).toBe('error')
    const later = await Promise.all(
      [1, 2].map(
        async (i) => (await client.submit({ method: 'GET', url: `${target.url}/later/${i}`, delayMs: 3_600_000 })).id,
      ),
    )

    expect(await client.cancelMatching({ destination: new URL(target.url).host, status: ['scheduled'] })).toBe(2)
    expect(await client.cancelMatching({ destination: new URL(target.url).host, status: ['scheduled'] })).toBe(0)
    for (const id of later) expect((await client.get(id)).status).toBe('cancelled')

    expect(await client.retryMatching({ destination: `127.0.0.1:${dead}` })).toBe(3)
    for (const id of failing) {
      const task = await client.wait(id, { timeoutMs: 30_000 })
      expect(task).toMatchObject({ status: 'error', attemptCount: 2 })
    }
  })

  it('rejects with the typed problem the server answered', async () => {
    const unknown = '0190a0b0-0000-7000-8000-000000000001'
    await expect(client.get(unknown)).rejects.toMatchObject({ status: 404, type: '/problems/task-not-found' })
    const refused = await client.submit({ method: 'GET', url: 'https://example.com/a\r\nb' }).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(RequestTaskerProblem)
    expect((refused as RequestTaskerProblem).errors.map((e) => e.path)).toEqual(['url'])
    const done = (await client.submit({ method: 'GET', url: `${target.url}/x` })).id
    await client.wait(done, { timeoutMs: 30_000 })
    await expect(client.cancel(done)).rejects.toMatchObject({ status: 409, taskStatus: 'done' })
  })

  it("serves both apps' Prometheus series", async () => {
    const serverText = await (await fetch(server.metricsUrl)).text()
    expect(serverText).toMatch(/http_requests_total\{method="POST",route="\/tasks\/batch",status_code="200"\} \d+/)
    expect(serverText).toMatch(/tasks_submitted_total\{via="batch"\} 70[0-9]/)
    expect(serverText).toMatch(/db_pool_connections\{pool="main",state="total"\} \d+/)
    const health = tasker.logLines().find((l) => l.msg === 'health server listening')!
    const taskerText = await (await fetch(`${health.url}/metrics`)).text()
    expect(taskerText).toMatch(/tasker_sends_total\{outcome="2xx"\} \d+/)
    expect(taskerText).toMatch(/tasker_sends_total\{outcome="connect"\} 6/)
    expect(taskerText).toMatch(/tasker_dispatch_latency_seconds_count [1-9]\d*/)
    expect(taskerText).toMatch(/outbox_backlog \d+/)
    expect(taskerText).toMatch(/tasks_scheduled\{due="false"\} \d+/)
    expect(taskerText).toMatch(/kafka_consumer_lag\{topic="[^"]+",partition="0"\} \d+/)
    expect(taskerText).toContain('nodejs_eventloop_lag_p99_seconds')
  })
})
