import { describe, expect, it } from 'vitest'
import { isDatabaseUnavailable } from './database-unavailable.js'

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code })

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a pool checkout timeout', new Error('timeout exceeded when trying to connect')],
    ['a connect timeout', new Error('Connection terminated due to connection timeout')],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a refused connection', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['too many connections', withCode('53300')],
    ['a server starting up', withCode('57P03')],
    ['a connection exception', withCode('08006')],
    ['a cause that is one', new Error('query failed', { cause: withCode('ECONNRESET') })],
  ])('says yes to %s', (_, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true)
  })

  it.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
    ['a non-error', 'timeout exceeded when trying to connect'],
  ])('says no to %s', (_, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false)
  })
})
