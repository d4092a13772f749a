import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppProcess, ServerProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import { closedPort } from '../support/target-server.js'
import { mapConcurrently, type TaskApi } from '../support/task-api.js'

// Flow control end to end, with two taskers sharing the partitions: each destination's limits hold in total, a
// destination that pushes back or goes down slows or holds only its own key, and waiting costs nothing but time.
const e2e = useE2e('flow-control')
const TASKER_ENV = {
  SCHEDULE_INTERVAL_MS: '50',
  RELAY_POLL_MS: '200',
  FLOW_BREAKER_FAILURES: '5',
  FLOW_BREAKER_COOLDOWN_MS: '2000',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  LEASE_GRACE_MS: '1000',
  SWEEP_INTERVAL_MS: '250',
  // At debug, each tasker logs every task it sent ('task sent'), which is how sentBy tells who sent what.
  LOG_LEVEL: 'debug',
}

/** A third party on its own port that records each request's arrival, and how many it held at once. */
type Host = { url: string; arrivals: number[]; answered: Map<number, number>; most: number; server: Server }

async function startHost(
  answer: (host: Host, path: string) => { status?: number; delayMs?: number; headers?: Record<string, string> },
) {
  const host: Host = { url: '', arrivals: [], answered: new Map(), most: 0, server: createServer() }
  let open = 0
  host.server.on('request', (req, res) => {
    req.resume()
    host.arrivals.push(Date.now())
    open++
    host.most = Math.max(host.most, open)
    const { status = 200, delayMs = 0, headers = {} } = answer(host, req.url ?? '')
    host.answered.set(status, (host.answered.get(status) ?? 0) + 1)
    setTimeout(() => {
      open--
      if (!res.destroyed) res.writeHead(status, headers).end('ok')
    }, delayMs)
  })
  host.server.listen(0, '127.0.0.1')
  await once(host.server, 'listening')
  host.url = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`
  hosts.push(host)
  return host
}
const hosts: Host[] = []

/** Requests per second from the host's first request to its last. */
const achieved = (host: Host) =>
  ((host.arrivals.length - 1) / ((Math.max(...host.arrivals) - Math.min(...host.arrivals)) / 1000)).toFixed(1)

/** The most requests that arrived within any window of `ms`. */
function mostWithin(arrivals: number[], ms: number): number {
  const sorted = [...arrivals].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= ms) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

let server: ServerProcess
let api: TaskApi
const taskers: AppProcess[] = []

beforeAll(async () => {
  server = await e2e.startServer()
  api = e2e.api(server, 50)
  taskers.push(await e2e.startTasker(TASKER_ENV), await e2e.startTasker(TASKER_ENV))
})
afterAll(() => {
  for (const h of hosts) {
    h.server.closeAllConnections()
    h.server.close()
  }
})

type FlowControlJson = { circuit: { state: string }; waiting: Record<string, number> }
const keyPath = (key: string, rest = '') => `/flow-controls/${encodeURIComponent(key)}${rest}`
async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: 'Bearer e2e-secret-key',
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  // A flow-control key as these tests read it; a 204 has no body (and is not read).
  const json = (res.status === 204 ? null : await res.json()) as FlowControlJson
  return { status: res.status, json }
}
const submitAll = (urls: string[], extra: Record<string, unknown> = {}) =>
  mapConcurrently(urls, 50, (url) => api.submit({ method: 'GET', url, ...extra }))
const doneCount = async (ids: string[]) => {
  const { rows } = await e2e.db.pool.query<{ n: number }>(
    `select count(*)::int as n from tasks where id = any($1::uuid[]) and status in ('done', 'error')`,
    [ids],
  )
  return rows[0]!.n
}
/** How many tasks each tasker sent (logged as sent), by tasker. */
const sentBy = (ids: Set<string>) =>
  taskers.map((t) => t.logLines().filter((l) => l.msg === 'task sent' && ids.has(String(l.taskId))).length)

describe('configured limits', () => {
  it('holds a key to its rate and its parallelism in total, with two taskers sending its tasks', async () => {
    const host = await startHost(() => ({ delayMs: 100 }))
    expect((await call('PUT', keyPath(host.url), { rate: 20, periodMs: 1000, parallelism: 3 })).status).toBe(200)

    const submitted = await submitAll(Array.from({ length: 120 }, (_, i) => `${host.url}/t/${i}`))
    const ids = submitted.map((s) => s.id!)
    await expect.poll(() => doneCount(ids), { timeout: 60_000, interval: 250 }).toBe(120)

    // Never a fourth request in flight, never more than the rate (and its one-request burst) in any second.
    expect(host.most).toBeLessThanOrEqual(3)
    expect(mostWithin(host.arrivals, 1000)).toBeLessThanOrEqual(21)
    const [first, second] = sentBy(new Set(ids))
    expect({ bothSent: first! > 0 && second! > 0, total: first! + second! }).toEqual({ bothSent: true, total: 120 })
    const seconds = (Math.max(...host.arrivals) - Math.min(...host.arrivals)) / 1000
    console.log(
      `flow control, 20/s and 3 at once over two taskers: ${first} + ${second} sends, at most ${host.most} in flight, ` +
        `${mostWithin(host.arrivals, 1000)} in the busiest second, ${(119 / seconds).toFixed(1)}/s overall`,
    )
  })
})

describe('a destination that pushes back', () => {
  /** Takes 50 a second (wall-clock seconds), then answers 429 asking for a second's wait. */
  const fiftyPerSecond = () => {
    const seen = new Map<number, number>()
    return (_: Host) => {
      const second = Math.floor(Date.now() / 1000)
      const n = (seen.get(second) ?? 0) + 1
      seen.set(second, n)
      return n <= 50 ? {} : { status: 429, headers: { 'retry-after': '1' } }
    }
  }

  it('is not hammered when nothing is configured: the key backs off, few calls are refused, every task ends done', async () => {
    const host = await startHost(fiftyPerSecond())
    const submitted = await submitAll(
      Array.from({ length: 2000 }, (_, i) => `${host.url}/u/${i}`),
      {
        retry: { maxAttempts: 10, backoff: { baseMs: 200, maxMs: 2000 } },
      },
    )
    const ids = submitted.map((s) => s.id!)
    await expect.poll(() => doneCount(ids), { timeout: 180_000, interval: 500 }).toBe(2000)

    const calls = host.arrivals.length
    const refused = host.answered.get(429) ?? 0
    expect((await e2e.statusCounts()).error ?? 0).toBe(0)
    expect(refused / calls).toBeLessThanOrEqual(0.1)
    console.log(
      `unconfigured 50/s host: 2000 tasks done, ${calls} calls, ${refused} refused (${((refused / calls) * 100).toFixed(1)} %), ` +
        `${achieved(host)}/s achieved, at most ${mostWithin(host.arrivals, 1000)} in a second, ${host.most} at once`,
    )
  })

  it('is hardly ever refused once the key is limited to its rate', async () => {
    const host = await startHost(fiftyPerSecond())
    await call('PUT', keyPath(host.url), { rate: 50, periodMs: 1000 })
    const submitted = await submitAll(Array.from({ length: 1000 }, (_, i) => `${host.url}/c/${i}`))
    const ids = submitted.map((s) => s.id!)
    await expect.poll(() => doneCount(ids), { timeout: 120_000, interval: 500 }).toBe(1000)

    const refused = host.answered.get(429) ?? 0
    expect(refused / host.arrivals.length).toBeLessThanOrEqual(0.01)
    console.log(
      `configured 50/s host: 1000 tasks done, ${host.arrivals.length} calls, ${refused} refused, ` +
        `${achieved(host)}/s achieved, at most ${mostWithin(host.arrivals, 1000)} in a second, ${host.most} at once`,
    )
  })
})

describe('a destination that is down', () => {
  it("opens the key's circuit, holds its tasks without spending their attempts, and closes it once a probe passes", async () => {
    const port = await closedPort()
    const url = `http://127.0.0.1:${port}`
    const submitted = await submitAll(
      Array.from({ length: 300 }, (_, i) => `${url}/d/${i}`),
      { retry: { maxAttempts: 5, backoff: { baseMs: 100, maxMs: 200 } } },
    )
    const ids = submitted.map((s) => s.id!)

    // 1. Five connection failures in a row open the circuit (the sends already in flight fail too); the other tasks
    // wait for it with their attempts kept, and a probe after the 2 s cool-down fails and opens it again.
    await expect
      .poll(async () => (await call('GET', keyPath(url))).json?.circuit?.state, { timeout: 30_000 })
      .toBe('open')
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    const { rows } = await e2e.db.pool.query<{ spent: number; attempts: number }>(
      `select count(*) filter (where attempts > 0)::int as spent, sum(attempts)::int as attempts
       from tasks where id = any($1::uuid[])`,
      [ids],
    )
    const { spent, attempts } = rows[0]!
    expect(spent).toBeLessThan(150)
    expect((await e2e.statusCounts()).error ?? 0).toBe(0)
    const opened = () =>
      taskers.flatMap((t) => t.logLines()).filter((l) => l.msg === 'circuit changed' && l.circuit === 'open')
    expect(opened().length).toBeGreaterThanOrEqual(2)

    // 2. The host comes up: the next probe passes, the circuit closes, and every task is sent.
    const host = createServer((_req, res) => res.end('up'))
    host.listen(port, '127.0.0.1')
    await once(host, 'listening')
    try {
      await expect.poll(() => doneCount(ids), { timeout: 60_000, interval: 250 }).toBe(300)
      const statuses = await Promise.all(ids.map(async (id) => (await api.get(id)).json.status))
      expect(statuses.every((s) => s === 'done')).toBe(true)
      expect((await call('GET', keyPath(url))).json.circuit.state).toBe('closed')
      const closed = taskers
        .flatMap((t) => t.logLines())
        .filter((l) => l.msg === 'circuit changed' && l.circuit === 'closed')
      expect(closed.length).toBeGreaterThanOrEqual(1)
      console.log(
        `dead host: 300 tasks; circuit opened ${opened().length} times, ${spent} tasks spent an attempt ` +
          `(${attempts} in all) while it was down, all done once it came up`,
      )
    } finally {
      host.closeAllConnections()
      host.close()
    }
  })
})

describe('pause and resume', () => {
  it('holds every task of a paused key, and sends them all once resumed', async () => {
    const host = await startHost(() => ({}))
    await call('POST', keyPath(host.url, '/pause'))
    const submitted = await submitAll(Array.from({ length: 50 }, (_, i) => `${host.url}/p/${i}`))
    const ids = submitted.map((s) => s.id!)

    await expect
      .poll(async () => (await call('GET', keyPath(host.url))).json.waiting.paused, { timeout: 30_000 })
      .toBe(50)
    expect(host.arrivals).toEqual([])
    const waiting = (await api.get(ids[0]!)).json
    expect(waiting).toMatchObject({ status: 'scheduled', waitReason: 'paused', attemptCount: 0 })
    // A waiting task can still be withdrawn.
    expect((await api.cancel(ids[49]!)).json.status).toBe('cancelled')

    await call('POST', keyPath(host.url, '/resume'))
    await expect.poll(() => doneCount(ids.slice(0, 49)), { timeout: 30_000, interval: 250 }).toBe(49)
    expect(host.arrivals).toHaveLength(49)
  })
})

describe('keys apart', () => {
  it("sends another host's tasks as fast as it would with no limited key, beside 5,000 waiting for theirs", async () => {
    const other = await startHost(() => ({}))
    const time = async (label: string) => {
      const started = Date.now()
      const batch = await submitAll(Array.from({ length: 200 }, (_, i) => `${other.url}/${label}/${i}`))
      await expect.poll(() => doneCount(batch.map((s) => s.id!)), { timeout: 60_000, interval: 50 }).toBe(200)
      return (Date.now() - started) / 1000
    }
    // 1. The other host's 200 tasks alone.
    const alone = await time('alone')
    // 2. 5,000 tasks of a key limited to 10/s, then the other host's 200 again.
    const limited = await startHost(() => ({}))
    await call('PUT', keyPath(limited.url), { rate: 10, periodMs: 1000 })
    await submitAll(Array.from({ length: 5000 }, (_, i) => `${limited.url}/l/${i}`))
    const beside = await time('beside')

    expect(beside).toBeLessThan(Math.max(alone * 2, alone + 3))
    console.log(
      `keys apart: 200 tasks of another host in ${alone.toFixed(1)} s alone, ${beside.toFixed(1)} s beside 5,000 limited`,
    )
  })
})

describe('a tasker killed while tasks wait', () => {
  it('loses none of them', async () => {
    const host = await startHost(() => ({}))
    await call('POST', keyPath(host.url, '/pause'))
    const submitted = await submitAll(Array.from({ length: 300 }, (_, i) => `${host.url}/k/${i}`))
    const ids = submitted.map((s) => s.id!)
    await expect
      .poll(async () => (await call('GET', keyPath(host.url))).json.waiting.paused, { timeout: 30_000 })
      .toBe(300)

    // Both taskers die; a new one starts; the key is resumed.
    for (const t of taskers.splice(0)) expect(await t.kill()).toEqual({ code: null, signal: 'SIGKILL' })
    taskers.push(await e2e.startTasker(TASKER_ENV, 120_000))
    await call('POST', keyPath(host.url, '/resume'))

    await expect.poll(() => doneCount(ids), { timeout: 120_000, interval: 250 }).toBe(300)
    expect(new Set(host.arrivals).size).toBeGreaterThan(0)
    expect(host.arrivals).toHaveLength(300)
  })
})
