import { describe, expect, it } from 'vitest'
import { ALICE, BOB, testServer } from '../../testing/test-server.js'

const alice = { authorization: `Bearer ${ALICE.key}` }
const bob = { authorization: `Bearer ${BOB.key}` }
const ORIGIN = 'https://api.example.com'
const path = (key: string, rest = '') => `/flow-controls/${encodeURIComponent(key)}${rest}`

describe('flow-control routes', () => {
  it("sets a key's limits, reads them back with its live state, and keeps them to their owner", async () => {
    const { app } = testServer()

    const put = await app.inject({ method: 'PUT', url: path(ORIGIN), headers: alice, payload: { rate: 50, burst: 5 } })

    expect(put.statusCode).toBe(200)
    const body = {
      key: ORIGIN,
      limits: { rate: 50, periodMs: 1000, burst: 5, parallelism: null },
      paused: false,
      circuit: { state: 'closed', failures: 0 },
      inFlight: 0,
      waiting: { 'rate-limited': 0, parallelism: 0, paused: 0, 'circuit-open': 0 },
      lastMinute: { since: expect.any(String), sends: 0, throttled: 0, failures: 0 },
      configuredAt: expect.any(String),
    }
    expect(put.json()).toEqual(body)
    expect((await app.inject({ method: 'GET', url: path(ORIGIN), headers: alice })).json()).toEqual(body)
    const other = await app.inject({ method: 'GET', url: path(ORIGIN), headers: bob })
    expect(other.statusCode).toBe(404)
    expect(other.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(other.json()).toMatchObject({ type: '/problems/flow-control-not-found', status: 404 })
  })

  it('lists the keys a page at a time with an opaque cursor', async () => {
    const { app } = testServer()
    for (const key of ['c', 'a', 'b']) {
      await app.inject({ method: 'PUT', url: path(key), headers: alice, payload: { parallelism: 1 } })
    }

    const first = (await app.inject({ method: 'GET', url: '/flow-controls?limit=2', headers: alice })).json()
    expect(first.items.map((k: { key: string }) => k.key)).toEqual(['a', 'b'])
    const second = await app.inject({
      method: 'GET',
      url: `/flow-controls?limit=2&cursor=${first.next}`,
      headers: alice,
    })
    expect(second.json()).toEqual({ items: [expect.objectContaining({ key: 'c' })] })
  })

  it('pauses and resumes a key, and forgets it', async () => {
    const { app } = testServer()

    expect((await app.inject({ method: 'POST', url: path(ORIGIN, '/pause'), headers: alice })).json()).toMatchObject({
      key: ORIGIN,
      paused: true,
    })
    expect((await app.inject({ method: 'POST', url: path(ORIGIN, '/resume'), headers: alice })).json()).toMatchObject({
      paused: false,
    })
    expect((await app.inject({ method: 'DELETE', url: path(ORIGIN), headers: alice })).statusCode).toBe(204)
    expect((await app.inject({ method: 'DELETE', url: path(ORIGIN), headers: alice })).statusCode).toBe(404)
  })

  it.each([
    ['a rate of 0', { rate: 0 }, 'rate'],
    ['a parallelism that is no integer', { parallelism: 2.5 }, 'parallelism'],
    ['a burst without a rate', { burst: 3 }, 'rate'],
    ['a rate that is a string', { rate: '5' }, 'rate'],
  ])('refuses %s with 400 naming the field', async (_, payload, field) => {
    const { app } = testServer()

    const res = await app.inject({ method: 'PUT', url: path(ORIGIN), headers: alice, payload })

    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json().errors).toEqual([expect.objectContaining({ path: field })])
    expect((await app.inject({ method: 'GET', url: path(ORIGIN), headers: alice })).statusCode).toBe(404)
  })

  it.each([
    ['a limit of 0', '/flow-controls?limit=0', 'limit'],
    ['a cursor it never gave', '/flow-controls?cursor=%25%25', 'cursor'],
    ['a key with a control character', path('a\u0001b'), 'key'],
  ])('refuses %s with 400 naming it', async (_, url, field) => {
    const { app } = testServer()
    const res = await app.inject({ method: 'GET', url, headers: alice })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toEqual([expect.objectContaining({ path: field })])
  })

  it('sets the limits a submission carries for its key, and counts the task against the key it names', async () => {
    const { app, store } = testServer()

    const res = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'content-type': 'application/json' },
      payload: { method: 'GET', url: `${ORIGIN}/orders`, flowControl: { key: 'billing', parallelism: 2 } },
    })

    expect(res.statusCode).toBe(201)
    expect(store.rows.get(res.json().id)?.task.flowKey).toBe('billing')
    expect((await app.inject({ method: 'GET', url: path('billing'), headers: alice })).json()).toMatchObject({
      limits: { parallelism: 2 },
    })
  })
})
