import { beforeAll, describe, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { closedPort, type ReceivedRequest } from '../support/target-server.js'
import type { TaskApi, TaskJson } from '../support/task-api.js'

// Both apps as built, real Postgres and Kafka, a local third party: what a client submits is what the third
// party receives, and what it answers is what the client reads back.
const e2e = useE2e('send-and-fetch')
let api: TaskApi

beforeAll(async () => {
  const server = await e2e.startServer()
  await e2e.startTasker()
  api = e2e.api(server)
})

/** The request's header lines as [name, value] pairs, in arrival order. */
function headerPairs(req: ReceivedRequest): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!])
  return pairs
}

// Lines the sender adds for its own hop; everything else must be the caller's, unchanged.
// The traceparent is the sender's too: a span of the task's trace per attempt (README, Trace context).
const SENDER_HEADERS = new Set(['host', 'connection', 'content-length', 'traceparent'])
const callerHeaders = (req: ReceivedRequest) =>
  headerPairs(req).filter(([name]) => !SENDER_HEADERS.has(name.toLowerCase()))
const senderHeaders = (req: ReceivedRequest) =>
  Object.fromEntries(headerPairs(req).filter(([name]) => SENDER_HEADERS.has(name.toLowerCase())))

function expectHistory(task: TaskJson, statuses: string[]) {
  expect(task.history.map((h) => h.status)).toEqual(statuses)
  const times = task.history.map((h) => Date.parse(h.at))
  expect(times).toEqual([...times].sort((a, b) => a - b))
}

// What Node's http server adds to every answer of the target (Date is switched off there).
const NODE_CONNECTION_HEADERS = { connection: 'keep-alive', 'keep-alive': 'timeout=5' }

describe('a submitted task', () => {
  it('reaches the target as the exact PUT submitted, and its whole answer is stored', async () => {
    const target = await e2e.startTarget(() => ({
      status: 201,
      headers: [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; HttpOnly'],
        ['X-Reply', 'yes'],
      ],
      body: 'created ✓',
      delayMs: 50,
    }))
    const json = JSON.stringify({ hello: 'wörld', items: [1, 2] })

    const submitted = await api.submit({
      method: 'PUT',
      url: `${target.url}/orders/42?x=1&y=two%20words`,
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'abc', 'X-Repeat': ['one', 'two'] },
      body: json,
    })
    expect(submitted).toEqual({
      status: 201,
      id: expect.any(String),
      location: `/tasks/${submitted.id}`,
      body: { id: submitted.id },
    })
    const task = await api.waitUntilFinished(submitted.id!)

    expect(target.requests).toHaveLength(1)
    const [received] = target.requests
    expect(received!.method).toBe('PUT')
    expect(received!.url).toBe('/orders/42?x=1&y=two%20words')
    expect(callerHeaders(received!)).toEqual([
      ['Content-Type', 'application/json'],
      ['X-Custom', 'abc'],
      ['X-Repeat', 'one'],
      ['X-Repeat', 'two'],
    ])
    expect(senderHeaders(received!)).toEqual({
      host: target.url.replace('http://', ''),
      connection: 'keep-alive',
      'content-length': String(Buffer.byteLength(json)),
      traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
    })
    expect(received!.body.toString('utf8')).toBe(json)

    const length = Buffer.byteLength('created ✓')
    expect(task).toEqual({
      id: submitted.id,
      status: 'done',
      flowKey: target.url,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      history: expect.any(Array),
      attemptCount: 1,
      attempts: [{ n: 1, startedAt: expect.any(String), durationMs: task.durationMs, httpStatusCode: 201 }],
      httpStatusCode: 201,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
        'x-reply': 'yes',
        'content-length': String(length),
        ...NODE_CONNECTION_HEADERS,
      },
      length,
      body: 'created ✓',
      bodyEncoding: 'utf8',
      bodyTruncated: false,
      durationMs: expect.any(Number),
    })
    expect(task.durationMs).toBeGreaterThanOrEqual(45) // the target's timer may fire a hair early by the sender's clock
    expectHistory(task, ['new', 'in_process', 'done'])
  })

  it('sends a base64 body byte for byte and stores a binary answer as base64', async () => {
    const answer = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3])
    const target = await e2e.startTarget(() => ({
      headers: [['Content-Type', 'application/octet-stream']],
      body: answer,
    }))
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

    const { id } = await api.submit({
      method: 'POST',
      url: `${target.url}/upload`,
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes.toString('base64'),
      bodyEncoding: 'base64',
    })
    const task = await api.waitUntilFinished(id!)

    expect(target.requests.map((r) => ({ method: r.method, url: r.url, body: r.body }))).toEqual([
      { method: 'POST', url: '/upload', body: bytes },
    ])
    expect(task).toMatchObject({
      status: 'done',
      httpStatusCode: 200,
      length: answer.length,
      body: answer.toString('base64'),
      bodyEncoding: 'base64',
      bodyTruncated: false,
    })
    expectHistory(task, ['new', 'in_process', 'done'])
  })

  it('works through the original routes, POST /task and GET /task/:id, with a bare Authorization key', async () => {
    const target = await e2e.startTarget(() => ({ status: 204 }))

    const submitted = await api.submit({ method: 'GET', url: `${target.url}/legacy?q=1` }, 'original')
    expect(submitted.status).toBe(201)
    await api.waitUntilFinished(submitted.id!)
    const original = await api.get(submitted.id!, 'original')
    const current = await api.get(submitted.id!, 'current')

    expect(target.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /legacy?q=1'])
    expect(original.status).toBe(200)
    expect(original.json).toEqual(current.json)
    expect(original.json).toMatchObject({
      id: submitted.id,
      status: 'done',
      httpStatusCode: 204,
      headers: NODE_CONNECTION_HEADERS,
      length: 0,
    })
  })

  it('ends in error, code connect, when nothing listens at the URL and no retry is allowed', async () => {
    const port = await closedPort()

    const { id } = await api.submit({
      method: 'GET',
      url: `http://127.0.0.1:${port}/nobody`,
      retry: { maxAttempts: 1 },
    })
    const task = await api.waitUntilFinished(id!)

    expect(task).toEqual({
      id,
      status: 'error',
      flowKey: `http://127.0.0.1:${port}`,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      history: expect.any(Array),
      attemptCount: 1,
      attempts: [
        {
          n: 1,
          startedAt: expect.any(String),
          durationMs: task.durationMs,
          error: { code: 'connect', message: `could not connect to 127.0.0.1:${port} (ECONNREFUSED)` },
        },
      ],
      error: { code: 'connect', message: `could not connect to 127.0.0.1:${port} (ECONNREFUSED)` },
      durationMs: expect.any(Number),
    })
    expectHistory(task, ['new', 'in_process', 'error'])
  })

  it('keeps the first 64 KiB of a 5 MiB answer and counts all of it', async () => {
    const fiveMiB = Buffer.alloc(5 * 1024 * 1024, 'x')
    const target = await e2e.startTarget(() => ({ headers: [['Content-Type', 'text/plain']], body: fiveMiB }))

    const { id } = await api.submit({ method: 'GET', url: `${target.url}/big` })
    const task = await api.waitUntilFinished(id!)

    expect(target.requests).toHaveLength(1)
    expect(task).toMatchObject({
      status: 'done',
      httpStatusCode: 200,
      length: 5 * 1024 * 1024,
      body: 'x'.repeat(64 * 1024),
      bodyEncoding: 'utf8',
      bodyTruncated: true,
    })
  })
})
