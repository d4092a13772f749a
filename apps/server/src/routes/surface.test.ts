import type { SendOutcome, TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { ALICE, BOB, sendWith, testServer } from '../../testing/test-server.js'

// The list, long-poll, batch, bulk and legacy routes, through inject over the real use cases and the in-memory store.
const alice = { authorization: `Bearer ${ALICE.key}` }
const bob = { authorization: `Bearer ${BOB.key}` }
const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
type Server = ReturnType<typeof testServer>

async function submitted(server: Server, n: number, url = 'https://a.example/x', headers = alice) {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await server.app.inject({ method: 'POST', url: '/tasks', headers, payload: { method: 'POST', url } })
    ids.push(res.json().id)
    server.clock.advance(1)
  }
  return ids
}

const ok: SendOutcome = {
  kind: 'response',
  httpStatusCode: 200,
  headers: [],
  length: 0,
  body: new Uint8Array(),
  bodyTruncated: false,
  durationMs: 5,
}
// tls is not retried by default: the task ends in error at once.
const refused: SendOutcome = { kind: 'failure', error: { code: 'tls', message: 'bad certificate' }, durationMs: 5 }

describe('GET /tasks', () => {
  it("pages through the key's tasks newest first with an opaque cursor, and shows them in short", async () => {
    const server = testServer()
    const ids = await submitted(server, 5)
    await submitted(server, 2, 'https://a.example/x', bob)

    const first = await server.app.inject({ url: '/tasks?limit=2', headers: alice })
    expect(first.statusCode).toBe(200)
    const page = first.json()
    expect(page.items.map((t: { id: string }) => t.id)).toEqual([ids[4], ids[3]])
    expect(page.items[0]).toEqual({
      id: ids[4],
      status: 'new',
      method: 'POST',
      url: 'https://a.example/x',
      destination: 'a.example',
      createdAt: '2026-01-01T00:00:00.004Z',
      updatedAt: '2026-01-01T00:00:00.004Z',
      attemptCount: 0,
    })
    const seen = [...page.items.map((t: { id: string }) => t.id)]
    let cursor: string | null = page.nextCursor
    while (cursor) {
      const next = (await server.app.inject({ url: `/tasks?limit=2&cursor=${cursor}`, headers: alice })).json()
      seen.push(...next.items.map((t: { id: string }) => t.id))
      cursor = next.nextCursor
    }
    expect(seen).toEqual([...ids].reverse())
  })

  it("filters by comma-separated statuses and destination, and shows a finished task's outcome", async () => {
    const server = testServer()
    const [a, b] = await submitted(server, 2, 'https://a.example/x')
    const [c] = await submitted(server, 1, 'https://b.example:8443/y')
    await sendWith(server, a!, ok)
    await sendWith(server, b!, refused)
    const list = async (query: string) => (await server.app.inject({ url: `/tasks?${query}`, headers: alice })).json()

    expect((await list('status=error,done')).items).toMatchObject([
      { id: b, status: 'error', error: { code: 'tls', message: 'bad certificate' } },
      { id: a, status: 'done', httpStatusCode: 200 },
    ])
    expect((await list('status=error&status=done')).items).toHaveLength(2)
    expect((await list('destination=B.example:8443')).items.map((t: { id: string }) => t.id)).toEqual([c])
    expect(await list('status=new&destination=a.example')).toEqual({ items: [], nextCursor: null })
  })
})

describe('GET /tasks/{id}?wait=N', () => {
  it('answers as soon as the task ends, with the task as it ended', async () => {
    const server = testServer()
    const [id] = await submitted(server, 1)
    const waiting = server.app.inject({ url: `/tasks/${id}?wait=30`, headers: alice })
    await expect.poll(() => server.endings.waiting).toBe(1)

    await sendWith(server, id!, ok)

    const res = await waiting
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ id, status: 'done', httpStatusCode: 200 })
    expect(server.endings.watches).toBe(0)
  })

  it('answers with the task as it stands when the wait runs out, and at once without wait', async () => {
    const server = testServer()
    const [id] = await submitted(server, 1)
    expect((await server.app.inject({ url: `/tasks/${id}?wait=0`, headers: alice })).json().status).toBe('new')

    const waiting = server.app.inject({ url: `/tasks/${id}?wait=60`, headers: alice })
    await expect.poll(() => server.endings.waiting).toBe(1)
    server.endings.timeOut()

    expect((await waiting).json()).toMatchObject({ id, status: 'new' })
    expect(server.endings.watches).toBe(0)
  })

  it('lets go of the wait at once when the client goes away', async () => {
    const server = testServer()
    const [id] = await submitted(server, 1)
    const address = await server.app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const gone = new AbortController()
      const waiting = fetch(`${address}/tasks/${id}?wait=60`, { headers: alice, signal: gone.signal }).catch(() => null)
      await expect.poll(() => server.endings.waiting).toBe(1)
      gone.abort()
      await waiting
      await expect.poll(() => server.endings.watches).toBe(0)
    } finally {
      await server.app.close()
    }
  })

  it("answers 404 for another key's task without waiting", async () => {
    const server = testServer()
    const [id] = await submitted(server, 1)
    const res = await server.app.inject({ url: `/tasks/${id}?wait=60`, headers: bob })
    expect(res.statusCode).toBe(404)
    expect(server.endings.watches).toBe(0)
  })
})

describe('POST /tasks/batch', () => {
  it('stores the valid items, refuses the others each with its problem, and repeats keyed ones', async () => {
    const server = testServer()
    const item = { method: 'POST', url: 'https://a.example/hook', body: { n: 1 } }
    const res = await server.app.inject({
      method: 'POST',
      url: '/tasks/batch',
      headers: { ...alice, traceparent: TRACE },
      payload: {
        tasks: [
          { ...item, idempotencyKey: 'k1' },
          { method: 'GET', url: 'ftp://a.example/' },
          { ...item, idempotencyKey: 'k1' },
          { ...item, body: { n: 2 }, idempotencyKey: 'k1' },
          item,
          'not a task',
        ],
      },
    })

    expect(res.statusCode).toBe(200)
    const body = res.json()
    const [first, , , , fifth] = body.results
    expect(body).toEqual({
      created: 2,
      repeated: 1,
      refused: 3,
      results: [
        { status: 201, id: expect.any(String) },
        {
          status: 400,
          problem: {
            type: '/problems/invalid-request',
            title: 'Invalid request',
            status: 400,
            detail: 'The request is invalid',
            errors: [{ path: 'url', message: 'scheme ftp: is not allowed; use http or https' }],
          },
        },
        { status: 200, id: first.id },
        { status: 409, problem: expect.objectContaining({ type: '/problems/idempotency-key-reused', status: 409 }) },
        { status: 201, id: expect.any(String) },
        { status: 400, problem: expect.objectContaining({ type: '/problems/invalid-request' }) },
      ],
    })
    expect(server.store.rows.size).toBe(2)
    expect(server.store.outbox).toHaveLength(2)
    // Each task a span of its own under the caller's trace.
    const traces = [first.id, fifth.id].map((id: string) => server.store.rows.get(id as TaskId)?.task.traceparent)
    for (const t of traces) expect(t).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(new Set(traces).size).toBe(2)

    // The same key in a later single submission names the batch's task.
    const again = await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'idempotency-key': 'k1' },
      payload: item,
    })
    expect(again.statusCode).toBe(200)
    expect(again.json()).toEqual({ id: first.id })
  })
})

describe('POST /tasks/batch, item by item as POST /tasks', () => {
  it("takes each item's flow control and deadline, and refuses an item it cannot sign", async () => {
    const server = testServer()
    const item = {
      method: 'POST',
      url: 'https://a.example/hook',
      flowControl: { key: 'payments', rate: 5, periodMs: 1000 },
      maxRetryDurationMs: 60_000,
    }
    const res = await server.app.inject({
      method: 'POST',
      url: '/tasks/batch',
      headers: alice,
      payload: { tasks: [item, { ...item, sign: true }, { ...item, flowControl: { key: '' } }] },
    })

    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.results.map((r: { status: number }) => r.status)).toEqual([201, 400, 400])
    expect(body.results[1].problem.errors).toEqual([{ path: 'sign', message: expect.any(String) }])
    expect(body.results[2].problem.errors).toEqual([{ path: 'flowControl.key', message: expect.any(String) }])
    const stored = server.store.rows.get(body.results[0].id as TaskId)?.task
    expect(stored).toMatchObject({ flowKey: 'payments', sign: false })
    expect(stored?.expiresAt).toEqual(new Date(server.clock.now().getTime() + 60_000))
    const key = await server.app.inject({ url: '/flow-controls/payments', headers: alice })
    expect(key.json().limits).toMatchObject({ rate: 5, periodMs: 1000 })
  })
})

describe('POST /tasks/cancel and /tasks/retry', () => {
  it('cancel every unsent matching task, retry every matching one in error, count them, and count 0 when repeated', async () => {
    const server = testServer()
    const [a, b] = await submitted(server, 2, 'https://a.example/x')
    const [c] = await submitted(server, 1, 'https://b.example/x')
    await sendWith(server, a!, refused)
    const post = async (url: string, payload: object) =>
      (await server.app.inject({ method: 'POST', url, headers: alice, payload })).json()

    expect(await post('/tasks/cancel', { destination: 'a.example' })).toEqual({ cancelled: 1 })
    expect(await post('/tasks/cancel', { destination: 'a.example' })).toEqual({ cancelled: 0 })
    expect(await post('/tasks/retry', {})).toEqual({ retried: 1 })
    expect(await post('/tasks/retry', {})).toEqual({ retried: 0 })
    const status = (id: string) => server.store.rows.get(id as TaskId)?.task.status
    expect([status(a!), status(b!), status(c!)]).toEqual(['new', 'cancelled', 'new'])
    expect(await post('/tasks/cancel', {})).toEqual({ cancelled: 2 })
  })
})

describe('the original routes', () => {
  it('GET /task/{id} answers scheduled as new and cancelled as error, keeping the true history', async () => {
    const server = testServer()
    const res = await server.app.inject({
      method: 'POST',
      url: '/task',
      headers: { authorization: ALICE.key },
      payload: { method: 'GET', url: 'https://a.example/', delayMs: 60_000 },
    })
    const { id } = res.json()
    const read = async () =>
      (await server.app.inject({ url: `/task/${id}`, headers: { authorization: ALICE.key } })).json()

    expect(await read()).toMatchObject({ status: 'new', history: [{ status: 'scheduled' }] })
    await server.app.inject({ method: 'POST', url: `/tasks/${id}/cancel`, headers: alice })
    expect(await read()).toMatchObject({ status: 'error', history: [{ status: 'scheduled' }, { status: 'cancelled' }] })
    expect((await server.app.inject({ url: `/tasks/${id}`, headers: alice })).json().status).toBe('cancelled')
  })

  it('answers its 400s with the original `message` beside the problem', async () => {
    const server = testServer()
    const res = await server.app.inject({
      method: 'POST',
      url: '/task',
      headers: { authorization: ALICE.key },
      payload: { method: 'GET', url: 'ftp://a.example/', timeoutMs: 0 },
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      type: '/problems/invalid-request',
      title: 'Invalid request',
      status: 400,
      detail: 'The request is invalid',
      message: 'url: scheme ftp: is not allowed; use http or https; timeoutMs: must be an integer from 1 to 60000',
      errors: [
        { path: 'url', message: 'scheme ftp: is not allowed; use http or https' },
        { path: 'timeoutMs', message: 'must be an integer from 1 to 60000' },
      ],
    })
    const current = await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: alice,
      payload: { method: 'GET', url: 'ftp://a.example/' },
    })
    expect(current.json()).not.toHaveProperty('message')
  })
})

describe('traceparent', () => {
  it('keeps the one a submission carries, and starts one for a submission without', async () => {
    const server = testServer()
    const given = await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, traceparent: TRACE },
      payload: { method: 'GET', url: 'https://a.example/' },
    })
    const malformed = await server.app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, traceparent: 'garbage' },
      payload: { method: 'GET', url: 'https://a.example/' },
    })
    const traceOf = (res: { json(): { id: string } }) =>
      server.store.rows.get(res.json().id as TaskId)?.task.traceparent
    expect(traceOf(given)).toBe(TRACE)
    expect(traceOf(malformed)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })
})
