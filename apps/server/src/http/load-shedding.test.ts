import { describe, expect, it } from 'vitest'
import { ALICE, testServer } from '../test-server.js'
import { eventLoopDelayGauge, type Pressure } from './load-shedding.js'

const limits = { maxPoolWaiting: 100, maxEventLoopDelayMs: 1_000 }
const submission = {
  method: 'POST' as const,
  url: '/tasks',
  headers: { authorization: `Bearer ${ALICE.key}`, 'content-type': 'application/json' },
  payload: { method: 'GET', url: 'https://example.com/' },
}

function serverUnder(pressure: Partial<Pressure>, maxEventLoopDelayMs = limits.maxEventLoopDelayMs) {
  return testServer({
    shedding: {
      pressure: { poolWaiting: () => 0, eventLoopDelayMs: () => 0, ...pressure },
      limits: { ...limits, maxEventLoopDelayMs },
    },
  })
}

const overloaded = {
  type: '/problems/overloaded',
  title: 'Overloaded',
  status: 503,
  detail: 'the server is overloaded; retry later',
}

describe('load shedding', () => {
  it.each([
    ['more checkouts wait for a connection than allowed', { poolWaiting: () => 101 }],
    ['the event loop lags past the limit', { eventLoopDelayMs: () => 1_001 }],
  ])('answers 503 with Retry-After and stores nothing when %s', async (_, pressure) => {
    const { app, store } = serverUnder(pressure)
    const res = await app.inject(submission)

    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual(overloaded)
    expect(store.rows.size).toBe(0)
  })

  it('takes requests on at the limits, and ignores the event loop when its limit is 0', async () => {
    const atLimits = await serverUnder({ poolWaiting: () => 100, eventLoopDelayMs: () => 1_000 }).app.inject(submission)
    const loopCheckOff = await serverUnder({ eventLoopDelayMs: () => 60_000 }, 0).app.inject(submission)

    expect(atLimits.statusCode).toBe(201)
    expect(loopCheckOff.statusCode).toBe(201)
  })

  it('never sheds the health probes', async () => {
    const { app } = serverUnder({ poolWaiting: () => 1_000, eventLoopDelayMs: () => 60_000 })

    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: `/tasks/00000000-0000-7000-8000-000000000001` })).statusCode).toBe(
      503,
    )
  })
})

describe('eventLoopDelayGauge', () => {
  it('reports the p99 delay of the last window, so a blocked loop shows', async () => {
    const gauge = eventLoopDelayGauge(50)
    // Each poll holds the loop for 120 ms, as a CPU-bound handler would, until a window has reported it.
    const holdLoop = (ms: number) => {
      const until = performance.now() + ms
      while (performance.now() < until) {}
    }
    try {
      await expect
        .poll(
          () => {
            holdLoop(120)
            return gauge.p99Ms()
          },
          { timeout: 3_000, interval: 20 },
        )
        .toBeGreaterThan(80)
    } finally {
      gauge.stop()
    }
  })
})
