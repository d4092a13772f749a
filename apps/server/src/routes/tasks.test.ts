import { okResponse, retryDefaults } from '@request-tasker/application/testing'
import { DEFAULT_RETRY_ON, type TaskId } from '@request-tasker/domain'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { ALICE, BOB, sendWith, testServer } from '../../testing/test-server.js'

const T0 = '2026-01-01T00:00:00.000Z'
const T1 = '2026-01-01T00:00:01.000Z'
const FIRST_ID = '00000000-0000-7000-8000-000000000001'
const alice = { authorization: `Bearer ${ALICE.key}` }

type Server = ReturnType<typeof testServer>

async function submit({ app }: Server, payload: object, headers: Record<string, string> = alice, url = '/tasks') {
  return app.inject({ method: 'POST', url, headers, payload })
}

describe('POST /tasks', () => {
  it('answers 201 with the id and its Location, and stores the request as sent', async () => {
    const server = testServer()
    const res = await submit(server, {
      method: 'PUT',
      url: 'https://example.com/orders/7?x=1',
      headers: { 'content-type': 'application/json', 'x-tag': ['a', 'b'] },
      body: '{"qty":2}',
      timeoutMs: 2500,
    })

    expect(res.statusCode).toBe(201)
    expect(res.headers.location).toBe(`/tasks/${FIRST_ID}`)
    expect(res.json()).toEqual({ id: FIRST_ID })
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task).toEqual({
      id: FIRST_ID,
      ownerKeyId: 'alice',
      request: {
        method: 'PUT',
        url: 'https://example.com/orders/7?x=1',
        headers: [
          ['content-type', 'application/json'],
          ['x-tag', 'a'],
          ['x-tag', 'b'],
        ],
        body: new TextEncoder().encode('{"qty":2}'),
        timeoutMs: 2500,
      },
      flowKey: 'https://example.com',
      kind: 'request',
      parentId: null,
      callbacks: null,
      sign: false,
      expiresAt: null,
      endCode: null,
      status: 'new',
      attempts: 0,
      budgetFrom: 0,
      retry: { ...retryDefaults, retryOn: DEFAULT_RETRY_ON },
      runAt: null,
      waitReason: null,
      // None was sent: the server started a trace for the task.
      traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
      createdAt: new Date(T0),
      updatedAt: new Date(T0),
    })
    expect(server.store.outbox).toEqual([{ id: '1', kind: 'task.requested', taskId: FIRST_ID }])
  })

  it('stores a base64 body as its bytes', async () => {
    const server = testServer()
    await submit(server, { method: 'POST', url: 'https://example.com/', body: '/wCAAQ==', bodyEncoding: 'base64' })

    expect(server.store.requestOf(FIRST_ID as TaskId)?.body).toEqual(new Uint8Array([0xff, 0x00, 0x80, 0x01]))
  })

  it('reads null optional fields as absent and ignores unknown fields, as the original service did', async () => {
    const server = testServer()
    const res = await submit(server, {
      method: 'GET',
      url: 'https://example.com/',
      headers: null,
      body: null,
      bodyEncoding: null,
      timeoutMs: null,
      retries: 3,
    })

    expect(res.statusCode).toBe(201)
    expect(server.store.requestOf(FIRST_ID as TaskId)).toEqual({
      method: 'GET',
      url: 'https://example.com/',
      headers: [],
      body: null,
      timeoutMs: 10_000,
    })
  })

  it('stores the retry policy given, each absent part taking the default', async () => {
    const server = testServer()
    const res = await submit(server, {
      method: 'GET',
      url: 'https://example.com/',
      retry: { maxAttempts: 2, backoff: { maxMs: 400 }, retryOn: { statuses: [409], errors: null } },
    })

    expect(res.statusCode).toBe(201)
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task.retry).toEqual({
      maxAttempts: 2,
      backoff: { baseMs: 400, maxMs: 400 },
      retryOn: { statuses: [409], errors: DEFAULT_RETRY_ON.errors },
    })
  })

  it('accepts a JSON content type with a charset', async () => {
    const { app } = testServer()
    const res = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ method: 'GET', url: 'https://example.com/' }),
    })

    expect(res.statusCode).toBe(201)
  })

  const captured = (level: string) => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line)) })
    return { lines, logger }
  }

  it('logs the task id of each submission at debug', async () => {
    const { lines, logger } = captured('debug')
    const server = testServer({ logger })
    await submit(server, { method: 'GET', url: 'https://example.com/' })

    expect(lines.filter((l) => l.msg === 'task submitted').map((l) => l.taskId)).toEqual([FIRST_ID])
  })

  it('logs a request that went well once, at debug, when it completes, under its request id', async () => {
    const { lines, logger } = captured('debug')
    const server = testServer({ logger })
    await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'x-request-id': 'req-1' },
      payload: { method: 'GET', url: 'https://example.com/' },
    })

    expect(lines.map((l) => [l.msg, l.reqId])).toEqual([
      ['task submitted', 'req-1'],
      ['request completed', 'req-1'],
    ])
    expect(lines[1]).toMatchObject({ res: { statusCode: 201 }, responseTime: expect.any(Number) })
  })

  it('logs nothing at info for a request that went well, and a refused one under its request id', async () => {
    const { lines, logger } = captured('info')
    const server = testServer({ logger })
    const ok = await submit(server, { method: 'GET', url: 'https://example.com/' })
    const refused = await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'x-request-id': 'req-2' },
      payload: { method: 'GET', url: 'not a url' },
    })

    expect([ok.statusCode, refused.statusCode]).toEqual([201, 400])
    expect(lines.map((l) => [l.msg, l.reqId])).toEqual([['request completed', 'req-2']])
    expect(lines[0]).toMatchObject({ level: 30, res: { statusCode: 400 }, responseTime: expect.any(Number) })
  })
})

describe('POST /tasks with an Idempotency-Key', () => {
  const body = { method: 'GET', url: 'https://example.com/' }
  const withKey = (key: string) => ({ ...alice, 'idempotency-key': key })

  it('answers 201 the first time and 200 with the same id and Location when repeated', async () => {
    const server = testServer()

    const first = await submit(server, body, withKey('order-7'))
    const again = await submit(server, body, withKey('order-7'))

    expect([first.statusCode, again.statusCode]).toEqual([201, 200])
    expect(again.json()).toEqual({ id: FIRST_ID })
    expect(again.headers.location).toBe(`/tasks/${FIRST_ID}`)
    expect(server.store.rows.size).toBe(1)
  })

  it('answers 409 when the key comes with another body', async () => {
    const server = testServer()
    await submit(server, body, withKey('order-7'))

    const res = await submit(server, { ...body, url: 'https://example.com/other' }, withKey('order-7'))

    expect(res.statusCode).toBe(409)
    expect(res.json()).toEqual({
      type: '/problems/idempotency-key-reused',
      title: 'Idempotency key reused',
      status: 409,
      detail: 'Idempotency-Key "order-7" was used for another body within the window',
    })
    expect(server.store.rows.size).toBe(1)
  })

  it("keeps one key's submissions apart from another API key's", async () => {
    const server = testServer()

    const mine = await submit(server, body, withKey('k'))
    const theirs = await submit(server, body, { authorization: `Bearer ${BOB.key}`, 'idempotency-key': 'k' })

    expect([mine.statusCode, theirs.statusCode]).toEqual([201, 201])
    expect(server.store.rows.size).toBe(2)
  })
})

describe('GET /tasks/:id', () => {
  it('answers a new task with its status, history and no result', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'new',
      createdAt: T0,
      updatedAt: T0,
      history: [{ status: 'new', at: T0 }],
      attemptCount: 0,
      flowKey: 'https://example.com',
      attempts: [],
    })
  })

  it('answers a done task with its response: repeated headers as arrays, a binary truncated body as base64', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/file' })
    await sendWith(
      server,
      FIRST_ID,
      {
        kind: 'response',
        httpStatusCode: 404,
        headers: [
          ['content-type', 'application/octet-stream'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
        length: 70_000,
        body: new Uint8Array([0xff, 0x00, 0x80, 0x01]),
        bodyTruncated: true,
        durationMs: 42,
      },
      1000,
    )
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'done',
      createdAt: T0,
      updatedAt: T1,
      history: [
        { status: 'new', at: T0 },
        { status: 'in_process', at: T1 },
        { status: 'done', at: T1 },
      ],
      attemptCount: 1,
      flowKey: 'https://example.com',
      attempts: [{ n: 1, startedAt: T1, durationMs: 42, httpStatusCode: 404 }],
      httpStatusCode: 404,
      headers: { 'content-type': 'application/octet-stream', 'set-cookie': ['a=1', 'b=2'] },
      length: 70_000,
      body: '/wCAAQ==',
      bodyEncoding: 'base64',
      bodyTruncated: true,
      durationMs: 42,
    })
  })

  it('answers a done task with a UTF-8 body as text', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    const body = new TextEncoder().encode('{"ok":"ja ✓"}')
    await sendWith(
      server,
      FIRST_ID,
      {
        kind: 'response',
        httpStatusCode: 200,
        headers: [['content-type', 'application/json']],
        length: body.length,
        body,
        bodyTruncated: false,
        durationMs: 7,
      },
      1000,
    )
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.json()).toMatchObject({
      status: 'done',
      httpStatusCode: 200,
      headers: { 'content-type': 'application/json' },
      length: 15,
      body: '{"ok":"ja ✓"}',
      bodyEncoding: 'utf8',
      bodyTruncated: false,
    })
  })

  it('answers an error task with the reason no response came back', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/', retry: { maxAttempts: 1 } })
    await sendWith(
      server,
      FIRST_ID,
      {
        kind: 'failure',
        error: { code: 'timeout', message: 'no response within 10000 ms' },
        durationMs: 10_001,
      },
      1000,
    )
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'error',
      createdAt: T0,
      updatedAt: T1,
      history: [
        { status: 'new', at: T0 },
        { status: 'in_process', at: T1 },
        { status: 'error', at: T1 },
      ],
      attemptCount: 1,
      flowKey: 'https://example.com',
      attempts: [
        { n: 1, startedAt: T1, durationMs: 10_001, error: { code: 'timeout', message: 'no response within 10000 ms' } },
      ],
      error: { code: 'timeout', message: 'no response within 10000 ms' },
      durationMs: 10_001,
    })
  })

  it('answers a task waiting for a retry with its attempts and when the next one is due, and no result yet', async () => {
    const server = testServer()
    await submit(server, {
      method: 'GET',
      url: 'https://example.com/',
      retry: { maxAttempts: 3, backoff: { baseMs: 100, maxMs: 100 } },
    })
    await sendWith(server, FIRST_ID, okResponse(503, 'busy'), 1000)
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'scheduled',
      createdAt: T0,
      updatedAt: T1,
      history: [
        { status: 'new', at: T0 },
        { status: 'in_process', at: T1 },
        { status: 'scheduled', at: T1, reason: 'retry' },
      ],
      attemptCount: 1,
      flowKey: 'https://example.com',
      attempts: [{ n: 1, startedAt: T1, durationMs: 3, httpStatusCode: 503 }],
      nextAttemptAt: '2026-01-01T00:00:01.050Z', // half of the 100 ms ceiling: the test's random is 0.5
      waitReason: 'retry',
    })
  })

  it('answers error with the last response when retryable answers used up every attempt', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/', retry: { maxAttempts: 1 } })
    await sendWith(server, FIRST_ID, okResponse(503, 'busy'), 1000)
    const res = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(res.json()).toMatchObject({
      status: 'error',
      attemptCount: 1,
      httpStatusCode: 503,
      body: 'busy',
      history: [{ status: 'new' }, { status: 'in_process' }, { status: 'error' }],
    })
    expect(res.json()).not.toHaveProperty('error')
  })

  it("answers 404 for another key's task, exactly as for an unknown id", async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    const res = await server.app.inject({
      method: 'GET',
      url: `/tasks/${FIRST_ID}`,
      headers: { authorization: `Bearer ${BOB.key}` },
    })

    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toEqual({
      type: '/problems/task-not-found',
      title: 'Task not found',
      status: 404,
      detail: `task ${FIRST_ID} does not exist`,
    })
  })
})

describe('POST /tasks/:id/retry', () => {
  const retryOf = ({ app }: Server, id = FIRST_ID, url = `/tasks/${id}/retry`) =>
    app.inject({ method: 'POST', url, headers: alice })

  it('sends a task in error again: new, queued, its earlier attempt kept', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/', retry: { maxAttempts: 1 } })
    await sendWith(server, FIRST_ID, okResponse(500, 'down'), 1000)
    server.clock.advance(1000)

    const res = await retryOf(server)

    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'new',
      createdAt: T0,
      updatedAt: '2026-01-01T00:00:02.000Z',
      history: [
        { status: 'new', at: T0 },
        { status: 'in_process', at: T1 },
        { status: 'error', at: T1 },
        { status: 'new', at: '2026-01-01T00:00:02.000Z' },
      ],
      attemptCount: 1,
      flowKey: 'https://example.com',
      attempts: [{ n: 1, startedAt: T1, durationMs: 3, httpStatusCode: 500 }],
    })
    expect(server.store.outbox.map((e) => e.kind)).toEqual(['task.requested', 'task.dead-lettered', 'task.requested'])
  })

  it('answers 409 naming the status of a task that is not in error, and changes nothing', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })

    const res = await retryOf(server)

    expect(res.statusCode).toBe(409)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toEqual({
      type: '/problems/task-not-retryable',
      title: 'Task not retryable',
      status: 409,
      detail: `task ${FIRST_ID} is new; only a task in error can be retried`,
      taskStatus: 'new',
    })
    expect(server.store.rows.get(FIRST_ID as TaskId)?.history).toHaveLength(1)
  })

  it("answers 404 for another key's task and 400 for a malformed id", async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' }, { authorization: `Bearer ${BOB.key}` })

    expect((await retryOf(server)).statusCode).toBe(404)
    expect((await retryOf(server, 'nope')).json()).toMatchObject({ status: 400, errors: [{ path: 'id' }] })
  })

  it('has no counterpart on the original routes', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/', retry: { maxAttempts: 1 } })
    await sendWith(server, FIRST_ID, okResponse(500, 'down'), 1000)

    expect((await retryOf(server, FIRST_ID, `/task/${FIRST_ID}/retry`)).statusCode).toBe(404)
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task.status).toBe('error')
  })
})

describe('POST /tasks/:id/cancel', () => {
  const cancelOf = ({ app }: Server, url = `/tasks/${FIRST_ID}/cancel`) =>
    app.inject({ method: 'POST', url, headers: alice })

  it('cancels a scheduled task and answers it, without its due time', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/', delayMs: 60_000 })
    server.clock.advance(1000)

    const res = await cancelOf(server)

    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      id: FIRST_ID,
      status: 'cancelled',
      createdAt: T0,
      updatedAt: T1,
      history: [
        { status: 'scheduled', at: T0, reason: 'not-before' },
        { status: 'cancelled', at: T1 },
      ],
      attemptCount: 0,
      flowKey: 'https://example.com',
      attempts: [],
    })
  })

  it('answers 409 naming the status of a task already finished, and changes nothing', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    await sendWith(server, FIRST_ID, okResponse(200), 1000)

    const res = await cancelOf(server)

    expect(res.statusCode).toBe(409)
    expect(res.json()).toEqual({
      type: '/problems/task-not-cancellable',
      title: 'Task not cancellable',
      status: 409,
      detail: `task ${FIRST_ID} is done; only a new or scheduled task can be cancelled`,
      taskStatus: 'done',
    })
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task.status).toBe('done')
  })

  it('has no counterpart on the original routes', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })

    expect((await cancelOf(server, `/task/${FIRST_ID}/cancel`)).statusCode).toBe(404)
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task.status).toBe('new')
  })
})

describe('legacy routes', () => {
  it('POST /task answers like POST /tasks', async () => {
    const server = testServer()
    const res = await submit(server, { method: 'GET', url: 'https://example.com/' }, alice, '/task')

    expect(res.statusCode).toBe(201)
    expect(res.headers.location).toBe(`/tasks/${FIRST_ID}`)
    expect(res.json()).toEqual({ id: FIRST_ID })
    expect(server.store.rows.size).toBe(1)
  })

  it('POST /task takes a JSON object body, as the original did, and sends it as JSON text', async () => {
    const server = testServer()
    const res = await submit(
      server,
      { method: 'POST', url: 'https://example.com/hook', body: { a: [1, 'x'] } },
      alice,
      '/task',
    )

    expect(res.statusCode).toBe(201)
    expect(server.store.requestOf(FIRST_ID as TaskId)).toMatchObject({
      headers: [['Content-Type', 'application/json']],
      body: new TextEncoder().encode('{"a":[1,"x"]}'),
    })
  })

  it('keeps the content type a JSON body names itself', async () => {
    const server = testServer()
    await submit(server, {
      method: 'PUT',
      url: 'https://example.com/hook',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: [{ op: 'add' }],
    })

    expect(server.store.requestOf(FIRST_ID as TaskId)).toMatchObject({
      headers: [['content-type', 'application/merge-patch+json']],
      body: new TextEncoder().encode('[{"op":"add"}]'),
    })
  })

  it('GET /task/:id answers the same body as GET /tasks/:id', async () => {
    const server = testServer()
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    await sendWith(
      server,
      FIRST_ID,
      {
        kind: 'response',
        httpStatusCode: 204,
        headers: [],
        length: 0,
        body: new Uint8Array(),
        bodyTruncated: false,
        durationMs: 1,
      },
      1000,
    )
    const legacy = await server.app.inject({ method: 'GET', url: `/task/${FIRST_ID}`, headers: alice })
    const current = await server.app.inject({ method: 'GET', url: `/tasks/${FIRST_ID}`, headers: alice })

    expect(legacy.statusCode).toBe(200)
    expect(legacy.json()).toEqual(current.json())
    // The original service's fields are all there.
    expect(legacy.json()).toMatchObject({ id: FIRST_ID, status: 'done', httpStatusCode: 204, headers: {}, length: 0 })
  })
})

describe('API key', () => {
  it.each([
    ['a raw key', ALICE.key],
    ['a Bearer key', `Bearer ${ALICE.key}`],
    ['a lowercase bearer key with extra spaces', `bearer   ${ALICE.key}  `],
  ])('accepts %s and files the task under its id', async (_, authorization) => {
    const server = testServer()
    const res = await submit(server, { method: 'GET', url: 'https://example.com/' }, { authorization })

    expect(res.statusCode).toBe(201)
    expect(server.store.rows.get(FIRST_ID as TaskId)?.task.ownerKeyId).toBe('alice')
  })

  it('lets two keys with one id (a rotation) read the same tasks', async () => {
    const server = testServer({ apiKeys: [ALICE, { id: 'alice', key: 'alice-new-key' }] })
    await submit(server, { method: 'GET', url: 'https://example.com/' })
    const res = await server.app.inject({
      method: 'GET',
      url: `/tasks/${FIRST_ID}`,
      headers: { authorization: 'alice-new-key' },
    })

    expect(res.statusCode).toBe(200)
  })

  it('leaves /health/live open', async () => {
    const { app } = testServer()
    const res = await app.inject({ method: 'GET', url: '/health/live' })

    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })
})

describe('request ids', () => {
  it("echoes the caller's X-Request-Id and makes one up when it is missing or odd", async () => {
    const { app } = testServer()
    const given = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } })
    const odd = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'a b\u0007' } })
    const none = await app.inject({ method: 'GET', url: '/health/live' })

    expect(given.headers['x-request-id']).toBe('abc-123')
    expect(odd.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})
