import { checkReadiness } from '@request-tasker/infrastructure'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { type HealthServer, startHealthServer } from './health-server.js'

const log = pino({ level: 'silent' })
let server: HealthServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function get(path: string) {
  const res = await fetch(`${server!.url}${path}`)
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    body: await res.json(),
  }
}

describe('the tasker health server', () => {
  it('answers live and ready with 200 while every check passes', async () => {
    const readiness = () =>
      checkReadiness({ database: async () => {}, migrations: async () => {}, kafka: async () => {} })
    server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness, log })

    expect(await get('/health/live')).toEqual({
      status: 200,
      type: 'application/json; charset=utf-8',
      retryAfter: null,
      body: { status: 'ok' },
    })
    expect(await get('/health/ready')).toEqual({
      status: 200,
      type: 'application/json; charset=utf-8',
      retryAfter: null,
      body: { status: 'ok', checks: { database: 'ok', migrations: 'ok', kafka: 'ok' } },
    })
  })

  it('answers ready with 503 problem+json naming the failed check, while live stays 200', async () => {
    const readiness = () =>
      checkReadiness({
        database: async () => {},
        kafka: async () => {
          throw new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1')
        },
      })
    server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness, log })

    expect((await get('/health/live')).status).toBe(200)
    expect(await get('/health/ready')).toEqual({
      status: 503,
      type: 'application/problem+json; charset=utf-8',
      retryAfter: '5',
      body: {
        type: '/problems/not-ready',
        title: 'Not ready',
        status: 503,
        detail: 'failing: kafka',
        errors: [{ path: 'kafka', message: 'kafka check failed' }],
      },
    })
  })

  it('answers 404 problem+json to anything else', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness: () => checkReadiness({}), log })

    expect(await get('/tasks')).toEqual({
      status: 404,
      type: 'application/problem+json; charset=utf-8',
      retryAfter: null,
      body: { type: '/problems/not-found', title: 'Not found', status: 404, detail: 'no route for GET /tasks' },
    })
  })
})
