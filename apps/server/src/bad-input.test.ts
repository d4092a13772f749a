import { describe, expect, it } from 'vitest'
import { badInputCases, badInputServer } from '../testing/bad-input.cases.js'
import { testServer } from '../testing/test-server.js'

// `message` only on the original routes, as their clients read it.
const PROBLEM_KEYS = ['type', 'title', 'status', 'detail', 'errors', 'message']

describe('refused input', () => {
  it('has a case for every kind of refusal the contract names', () => {
    expect(badInputCases.length).toBeGreaterThanOrEqual(45)
    expect(new Set(badInputCases.map((c) => c.name)).size).toBe(badInputCases.length)
    expect(new Set(badInputCases.map((c) => c.status))).toEqual(new Set([400, 401, 404, 405, 413, 414, 415]))
  })

  it.each(badInputCases)('answers $status to $name and stores nothing', async (c) => {
    const { app, store } = testServer(badInputServer)
    const res = await app.inject({ method: c.method, url: c.url, headers: c.headers, payload: c.payload })

    expect(res.statusCode).toBe(c.status)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    const problem = res.json()
    expect(problem).toMatchObject({ type: expect.stringMatching(/^\/problems\/[a-z-]+$/), status: c.status })
    expect(Object.keys(problem).every((k) => PROBLEM_KEYS.includes(k))).toBe(true)
    if (c.path !== undefined) {
      expect(problem.errors.map((e: { path: string }) => e.path)).toContain(c.path)
    }
    if (c.status === 401) expect(res.headers['www-authenticate']).toBe('Bearer realm="request-tasker"')
    if (c.allow !== undefined) expect(res.headers.allow).toBe(c.allow)
    if (c.url.startsWith('/task/') || c.url === '/task') expect(problem.message).toEqual(expect.any(String))
    // Nothing from inside the process: no stack frames, no source paths, no Fastify error codes.
    expect(res.body).not.toMatch(/\bat .+:\d+:\d+|node_modules|\.ts\b|FST_ERR|stack/)

    expect(store.rows.size).toBe(0)
    expect(store.outbox).toEqual([])
    expect(store.keys.size).toBe(0)
  })
})
