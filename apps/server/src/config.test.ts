import { numericSettingsOf } from '@request-tasker/infrastructure'
import { describe, expect, it } from 'vitest'
import { loadConfig, serverEnv } from './config.js'

const required = { DATABASE_URL: 'postgres://localhost:5432/tasks', API_KEYS: 'alice:alice-key' }

describe('loadConfig', () => {
  it('fills the defaults and asks for nothing Kafka', () => {
    const config = loadConfig(required)

    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      API_KEYS: [{ id: 'alice', key: 'alice-key' }],
      BODY_LIMIT_BYTES: 1_048_576,
      MAX_INFLIGHT_REQUEST_BYTES: 33_554_432,
      DEFAULT_TIMEOUT_MS: 10_000,
      TASK_HEADERS_MAX_COUNT: 100,
      TASK_HEADERS_MAX_BYTES: 32_768,
      REQUEST_TIMEOUT_MS: 30_000,
      HEADERS_TIMEOUT_MS: 10_000,
      KEEP_ALIVE_TIMEOUT_MS: 5_000,
      CONNECTION_TIMEOUT_MS: 60_000,
      DATABASE_ACQUIRE_TIMEOUT_MS: 2_000,
      SHED_POOL_WAITING: 100,
      SHED_EVENT_LOOP_DELAY_MS: 1_000,
      READINESS_CACHE_MS: 1_000,
      SUBMISSIONS_PER_KEY_MAX: 10_000,
      SUBMISSIONS_PER_KEY_WINDOW_MS: 10_000,
      RETRY_MAX_ATTEMPTS: 5,
      RETRY_BASE_MS: 1000,
      RETRY_MAX_MS: 600_000,
      IDEMPOTENCY_WINDOW_MS: 86_400_000,
    })
    expect(config).not.toHaveProperty('KAFKA_BROKERS')
  })

  it('guards targets by default with an empty allow-list, and reads one given', () => {
    expect(loadConfig(required)).toMatchObject({ SSRF_GUARD: 'on', TARGET_ALLOWLIST: { hosts: [], ranges: [] } })

    const config = loadConfig({ ...required, SSRF_GUARD: 'off', TARGET_ALLOWLIST: 'billing.internal,10.0.0.0/8' })
    expect(config.SSRF_GUARD).toBe('off')
    expect(config.TARGET_ALLOWLIST.hosts).toEqual(['billing.internal'])
    expect(config.TARGET_ALLOWLIST.ranges.map(([net, bits]) => `${net}/${bits}`)).toEqual(['10.0.0.0/8'])
  })

  it('reads id:key entries and gives a bare key the first 16 hex digits of its sha256 as id', () => {
    const config = loadConfig({ ...required, API_KEYS: ' alice : k1 ,k2,alice:k3' })

    expect(config.API_KEYS).toEqual([
      { id: 'alice', key: 'k1' },
      { id: '015f7e6bc5aeaf48', key: 'k2' },
      { id: 'alice', key: 'k3' },
    ])
  })

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['an entry without a key', 'alice:'],
    ['an entry without an id', ':secret-key'],
    ['a key given twice', 'a:secret-key,b:secret-key'],
  ])('refuses API_KEYS %s, without quoting any key', (_, API_KEYS) => {
    const load = () => loadConfig({ ...required, API_KEYS })

    expect(load).toThrow(/API_KEYS/)
    expect(load).not.toThrow(/secret-key/)
  })

  it.each([
    ['PORT', '70000'],
    ['BODY_LIMIT_BYTES', '0'],
    ['DEFAULT_TIMEOUT_MS', '60001'],
    ['SSRF_GUARD', 'false'],
    ['TARGET_ALLOWLIST', '10.0.0.0/40'],
    ['DATABASE_ACQUIRE_TIMEOUT_MS', '0'],
    ['SHED_POOL_WAITING', '0'],
    ['SHED_EVENT_LOOP_DELAY_MS', '-1'],
    ['RETRY_MAX_ATTEMPTS', '0'],
    ['RETRY_BASE_MS', '700000'],
    ['RETRY_MAX_MS', '0'],
    ['IDEMPOTENCY_WINDOW_MS', '0'],
    ['REQUEST_TIMEOUT_MS', '0'],
    ['HEADERS_TIMEOUT_MS', '40000'],
    ['KEEP_ALIVE_TIMEOUT_MS', '0'],
    ['CONNECTION_TIMEOUT_MS', '0'],
    ['SUBMISSIONS_PER_KEY_MAX', '0'],
    ['SUBMISSIONS_PER_KEY_WINDOW_MS', '999'],
    ['MAX_INFLIGHT_REQUEST_BYTES', '1000'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig({ ...required, [name]: value })).toThrow(name)
  })
})

describe('numeric settings', () => {
  it('refuses MAX_INFLIGHT_REQUEST_BYTES below BODY_LIMIT_BYTES', () => {
    expect(() =>
      loadConfig({ ...required, BODY_LIMIT_BYTES: '4194304', MAX_INFLIGHT_REQUEST_BYTES: '2097152' }),
    ).toThrow(/MAX_INFLIGHT_REQUEST_BYTES: must be at least BODY_LIMIT_BYTES/)
  })

  it('each have a range', () => {
    const unbounded = numericSettingsOf(serverEnv).filter(({ min, max }) => min === null || max === null)

    expect(unbounded).toEqual([])
  })

  // The window is subtracted from now as a Date: near Number.MAX_SAFE_INTEGER that Date was invalid, and every
  // keyed submission a 500.
  it.each([
    ['IDEMPOTENCY_WINDOW_MS', String(Number.MAX_SAFE_INTEGER)],
    ['BODY_LIMIT_BYTES', String(1024 ** 3)],
    ['SHED_POOL_WAITING', '10000000'],
  ])('refuses %s=%s at boot, naming it', (name, value) => {
    expect(() => loadConfig({ ...required, [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name}:`))
  })
})
