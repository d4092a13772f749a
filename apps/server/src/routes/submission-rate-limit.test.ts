import { describe, expect, it } from 'vitest'
import { ALICE, BOB, testServer } from '../../testing/test-server.js'
import { SubmissionCounter, TooManySubmissions } from '../http/submission-limit.js'

const submit = (key: string) => ({
  method: 'POST' as const,
  url: '/tasks',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  payload: { method: 'GET', url: 'https://example.com/' },
})

describe('submissions per API key', () => {
  it('answers 429 with Retry-After past the limit, storing nothing, while another key still submits', async () => {
    const { app, store } = testServer({ submissionLimit: { max: 3, windowMs: 60_000 } })

    const first = await Promise.all([1, 2, 3].map(() => app.inject(submit(ALICE.key))))
    const refused = await app.inject(submit(ALICE.key))
    const legacyRoute = await app.inject({ ...submit(ALICE.key), url: '/task' })
    const otherKey = await app.inject(submit(BOB.key))

    expect(first.map((r) => r.statusCode)).toEqual([201, 201, 201])
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(refused.headers['retry-after']).toBe('60')
    expect(refused.json()).toEqual({
      type: '/problems/too-many-requests',
      title: 'Too many requests',
      status: 429,
      detail: 'at most 3 submissions per 60 s for this API key; retry after 60 s',
    })
    expect(legacyRoute.statusCode).toBe(429)
    expect(otherKey.statusCode).toBe(201)
    expect(store.rows.size).toBe(4)
    await app.close()
  })

  it('counts each task of a batch, so a batch is no way round the limit', async () => {
    const { app, store } = testServer({ submissionLimit: { max: 5, windowMs: 60_000 } })
    const batch = (n: number) => ({
      ...submit(ALICE.key),
      url: '/tasks/batch',
      payload: { tasks: Array.from({ length: n }, () => ({ method: 'GET', url: 'https://example.com/' })) },
    })

    const four = await app.inject(batch(4))
    const three = await app.inject(batch(3)) // 4 + 3 > 5: refused whole, nothing stored
    const one = await app.inject(submit(ALICE.key))
    const another = await app.inject(submit(ALICE.key))

    expect(four.statusCode).toBe(200)
    expect(three.statusCode).toBe(429)
    expect(three.headers['retry-after']).toBe('60')
    expect(three.json()).toMatchObject({ type: '/problems/too-many-requests', status: 429 })
    expect(one.statusCode).toBe(201)
    expect(another.statusCode).toBe(429)
    expect(store.rows.size).toBe(5)
    await app.close()
  })

  it('starts a new count when the window is over', () => {
    let now = 1_000_000
    const counter = new SubmissionCounter({ max: 2, windowMs: 10_000 }, () => now)

    counter.take('alice', 2)
    now += 9_500
    expect(() => counter.take('alice', 1)).toThrow(TooManySubmissions)
    try {
      counter.take('alice', 1)
    } catch (err) {
      expect((err as TooManySubmissions).retryAfterSeconds).toBe(1)
    }
    counter.take('bob', 2) // each key its own count
    now += 500
    counter.take('alice', 2)
    expect(() => counter.take('alice', 1)).toThrow(TooManySubmissions)
  })

  it('leaves reads alone', async () => {
    const { app } = testServer({ submissionLimit: { max: 1, windowMs: 60_000 } })
    const { id } = (await app.inject(submit(ALICE.key))).json()

    const reads = await Promise.all(
      [1, 2, 3].map(() => app.inject({ method: 'GET', url: `/tasks/${id}`, headers: submit(ALICE.key).headers })),
    )

    expect(reads.map((r) => r.statusCode)).toEqual([200, 200, 200])
    await app.close()
  })

  it('asks for a key before counting: an unknown key gets 401, not 429', async () => {
    const { app } = testServer({ submissionLimit: { max: 1, windowMs: 60_000 } })

    const answers = await Promise.all([1, 2, 3].map(() => app.inject(submit('nope'))))

    expect(answers.map((r) => r.statusCode)).toEqual([401, 401, 401])
    await app.close()
  })
})
