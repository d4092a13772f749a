import { checkReadiness } from '@request-tasker/infrastructure'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { testServer } from '../../testing/test-server.js'

describe('GET /health/ready', () => {
  it('answers 200 with every check when all pass, without asking for a key', async () => {
    const { app } = testServer({
      readiness: () => checkReadiness({ database: async () => {}, migrations: async () => {} }),
    })
    const res = await app.inject({ method: 'GET', url: '/health/ready' })

    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok', checks: { database: 'ok', migrations: 'ok' } })
  })

  it('answers 503 problem+json naming each failed check, and logs the reasons without returning them', async () => {
    const lines: Array<Record<string, unknown>> = []
    const { app } = testServer({
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      readiness: () =>
        checkReadiness({
          database: async () => {
            throw new Error('connect ECONNREFUSED 10.0.0.5:5432')
          },
          migrations: async () => {},
        }),
    })
    const res = await app.inject({ method: 'GET', url: '/health/ready' })

    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual({
      type: '/problems/not-ready',
      title: 'Not ready',
      status: 503,
      detail: 'failing: database',
      errors: [{ path: 'database', message: 'database check failed' }],
    })
    expect(lines.find((l) => l.msg === 'not ready')).toMatchObject({
      level: 40,
      failures: [{ check: 'database', message: 'connect ECONNREFUSED 10.0.0.5:5432' }],
    })
  })
})
