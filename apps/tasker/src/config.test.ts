import { numericSettingsOf } from '@request-tasker/infrastructure'
import { describe, expect, it } from 'vitest'
import { loadConfig, taskerEnv } from './config.js'

const required = { DATABASE_URL: 'postgres://localhost:5432/tasks', KAFKA_BROKERS: 'localhost:9092' }

describe('loadConfig', () => {
  it('gives every numeric setting a range', () => {
    const unbounded = numericSettingsOf(taskerEnv).filter(({ min, max }) => min === null || max === null)

    expect(unbounded).toEqual([])
  })

  it('takes every numeric setting at both ends of its range', () => {
    for (const { name, min, max } of numericSettingsOf(taskerEnv)) {
      expect(loadConfig({ ...required, [name]: String(min) })[name as 'SEND_CONCURRENCY']).toBe(min)
      expect(loadConfig({ ...required, [name]: String(max) })[name as 'SEND_CONCURRENCY']).toBe(max)
    }
  })

  // A lease is timeout_ms + LEASE_GRACE_MS as a Postgres integer: 2^31 - 1 overflowed it.
  it.each([
    ['LEASE_GRACE_MS', '2147483647'],
    ['SEND_CONCURRENCY', '100000'],
    ['RESPONSE_MAX_BYTES', '10000000000'],
    ['RELAY_POLL_MS', '86400000'],
    ['SHUTDOWN_TIMEOUT_MS', '99999999999'],
    ['KAFKA_PARTITIONS', '100000'],
  ])('refuses %s=%s at boot, naming it', (name, value) => {
    expect(() => loadConfig({ ...required, [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name}:`))
  })
})
