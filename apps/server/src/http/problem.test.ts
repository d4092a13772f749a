import { DomainError } from '@request-tasker/domain'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { ALICE } from '../../testing/test-server.js'
import { buildServer } from '../server.js'

const alice = { authorization: ALICE.key }
const id = '00000000-0000-7000-8000-000000000001'

function serverWhoseGetTaskThrows(err: Error) {
  const lines: Array<Record<string, unknown>> = []
  const app = buildServer({
    useCases: {
      submitTask: Object.assign(
        async () => {
          throw err
        },
        { queued: () => 0 },
      ),
      submitTaskOnce: async () => {
        throw err
      },
      getTask: async () => {
        throw err
      },
      redriveTask: async () => {
        throw err
      },
      cancelTask: async () => {
        throw err
      },
      submitBatch: async () => {
        throw err
      },
      awaitTask: async () => {
        throw err
      },
      listTasks: async () => {
        throw err
      },
      cancelMatching: async () => {
        throw err
      },
      redriveMatching: async () => {
        throw err
      },
    },
    apiKeys: [ALICE],
    bodyLimit: 1024,
    logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    readiness: async () => {
      throw new Error('unused')
    },
  })
  return { app, lines }
}

describe('replyWithProblem', () => {
  it('answers 500 without a word of the error, and logs all of it', async () => {
    const { app, lines } = serverWhoseGetTaskThrows(new Error('password authentication failed for user "tasks"'))
    const res = await app.inject({ method: 'GET', url: `/tasks/${id}`, headers: alice })

    expect(res.statusCode).toBe(500)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500 })
    const logged = lines.find((l) => l.msg === 'unhandled error')
    expect(logged).toMatchObject({
      level: 50,
      reqId: res.headers['x-request-id'],
      err: { type: 'Error', message: 'password authentication failed for user "tasks"' },
    })
  })

  it.each([
    ['no pool connection came within the acquire timeout', new Error('timeout exceeded when trying to connect')],
    [
      'the database refused the connection',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' }),
    ],
    ['the database is starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
  ])('answers 503 with Retry-After, without its words, when %s', async (_, err) => {
    const { app, lines } = serverWhoseGetTaskThrows(err)
    const res = await app.inject({ method: 'GET', url: `/tasks/${id}`, headers: alice })

    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual({
      type: '/problems/database-unavailable',
      title: 'Database unavailable',
      status: 503,
      detail: 'the database is unavailable; retry later',
    })
    expect(lines.find((l) => l.msg === 'database unavailable')).toMatchObject({
      level: 40,
      err: { message: err.message },
    })
  })

  it('answers 409 to an illegal transition', async () => {
    const { app } = serverWhoseGetTaskThrows(new DomainError('illegal-transition', 'a task cannot go from done to new'))
    const res = await app.inject({ method: 'GET', url: `/tasks/${id}`, headers: alice })

    expect(res.statusCode).toBe(409)
    expect(res.json()).toEqual({
      type: '/problems/illegal-transition',
      title: 'Illegal transition',
      status: 409,
      detail: 'a task cannot go from done to new',
    })
  })

  it("passes Fastify's other client errors through under their status", async () => {
    const { app } = serverWhoseGetTaskThrows(new Error('unused'))
    const res = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { ...alice, 'content-type': 'application/json', 'content-length': '5' },
      payload: '{}',
    })

    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'Request body size did not match Content-Length',
    })
  })

  it('answers 404 problem+json for a route that does not exist, without asking for a key', async () => {
    const { app } = serverWhoseGetTaskThrows(new Error('unused'))
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' })

    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toEqual({
      type: '/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: 'no route for GET /nope',
    })
  })
})
