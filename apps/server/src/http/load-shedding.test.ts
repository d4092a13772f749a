import { describe, expect, it } from 'vitest'
import { ALICE, testServer } from '../../testing/test-server.js'
import type { SheddingLimits } from './load-shedding.js'

const limits: SheddingLimits = { maxPoolWaiting: 100, maxEventLoopDelayMs: 1_000 }
const submission = {
  method: 'POST' as const,
  url: '/tasks',
  headers: { authorization: `Bearer ${ALICE.key}`, 'content-type': 'application/json' },
  payload: { method: 'GET', url: 'https://example.com/' },
}

function serverUnder(poolWaiting: () => number, overrides: Partial<SheddingLimits> = {}, eventLoopWindowMs = 1_000) {
  return testServer({
    shedding: {
      pressure: { poolWaiting },
      limits: { ...limits, ...overrides },
      poolCheckEveryMs: 10,
      eventLoopWindowMs,
    },
  })
}

const overloaded = {
  type: '/problems/overloaded',
  title: 'Overloaded',
  status: 503,
  detail: 'the server is overloaded; retry later',
}

// Holds the event loop as a CPU-bound handler would.
function holdLoop(ms: number) {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

describe('load shedding', () => {
  it('answers 503 with Retry-After and stores nothing while more checkouts wait for a connection than allowed', async () => {
    const { app, store } = serverUnder(() => 101)
    const res = await app.inject(submission)

    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual(overloaded)
    expect(store.rows.size).toBe(0)
    await app.close()
  })

  it('takes requests on again once the queue is back under the limit', async () => {
    let waiting = 101
    const { app } = serverUnder(() => waiting)
    expect((await app.inject(submission)).statusCode).toBe(503)

    waiting = 100
    await expect.poll(async () => (await app.inject(submission)).statusCode, { timeout: 2_000 }).toBe(201)
    await app.close()
  })

  it('answers 503 while the event loop lags past the limit', async () => {
    const { app } = serverUnder(() => 0, { maxEventLoopDelayMs: 50 }, 50)
    expect((await app.inject(submission)).statusCode).toBe(201)

    await expect
      .poll(
        async () => {
          holdLoop(200)
          return (await app.inject(submission)).json()
        },
        { timeout: 3_000, interval: 20 },
      )
      .toEqual(overloaded)
    await app.close()
  })

  it('takes requests on at the limit, and ignores the event loop when its limit is 0', async () => {
    const atLimit = serverUnder(() => 100).app
    const loopCheckOff = serverUnder(() => 0, { maxEventLoopDelayMs: 0 }, 50).app
    holdLoop(200)

    expect((await atLimit.inject(submission)).statusCode).toBe(201)
    expect((await loopCheckOff.inject(submission)).statusCode).toBe(201)
    await Promise.all([atLimit.close(), loopCheckOff.close()])
  })

  it('never sheds the health probes', async () => {
    const { app } = serverUnder(() => 1_000)

    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: `/tasks/00000000-0000-7000-8000-000000000001` })).statusCode).toBe(
      503,
    )
    await app.close()
  })
})
