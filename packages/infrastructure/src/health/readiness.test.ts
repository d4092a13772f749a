import { describe, expect, it } from 'vitest'
import { checkReadiness, notReadyProblem } from './readiness.js'

const pass = async () => {}
const never = () => new Promise<void>(() => {})

describe('checkReadiness', () => {
  it('is ok when every check passes', async () => {
    expect(await checkReadiness({ database: pass, kafka: pass })).toEqual({
      status: 'ok',
      checks: { database: 'ok', kafka: 'ok' },
    })
  })

  it('names each failed check with its reason, and counts a hung check as failed at the timeout', async () => {
    const started = performance.now()
    const readiness = await checkReadiness(
      {
        database: pass,
        migrations: async () => {
          throw new Error('the database lacks 1 migration(s)')
        },
        kafka: never,
      },
      100,
    )

    expect(performance.now() - started).toBeLessThan(1_000)
    expect(readiness).toEqual({
      status: 'failing',
      checks: { database: 'ok', migrations: 'failing', kafka: 'failing' },
      failures: [
        { check: 'migrations', message: 'the database lacks 1 migration(s)' },
        { check: 'kafka', message: 'no answer within 100 ms' },
      ],
    })
  })

  it('turns a failing readiness into a 503 problem that names the checks but not the reasons', async () => {
    const readiness = await checkReadiness({
      database: async () => {
        throw Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })
      },
    })
    if (readiness.status === 'ok') throw new Error('expected a failure')

    expect(readiness.failures).toEqual([{ check: 'database', message: 'ECONNREFUSED' }])
    expect(notReadyProblem(readiness)).toEqual({
      type: '/problems/not-ready',
      title: 'Not ready',
      status: 503,
      detail: 'failing: database',
      errors: [{ path: 'database', message: 'database check failed' }],
    })
  })
})
