import { describe, expect, it } from 'vitest'
import type { SendOutcome } from './attempt.js'
import { DomainError } from './errors.js'
import {
  backoffDelayMs,
  createRetryPolicy,
  DEFAULT_RETRY_ON,
  isRetryable,
  nextStep,
  parseRetryAfter,
  type RetryPolicy,
  type RetryPolicyInput,
} from './retry-policy.js'
import { createTask, moveTask, type TaskId } from './task.js'

const defaults = { maxAttempts: 5, backoff: { baseMs: 1_000, maxMs: 600_000 } }
const now = new Date('2026-01-01T00:00:00Z')

const answer = (status: number, headers: Array<[string, string]> = []): SendOutcome => ({
  kind: 'response',
  httpStatusCode: status,
  headers,
  length: 0,
  body: new Uint8Array(),
  bodyTruncated: false,
  durationMs: 1,
})
const failed = (code: 'timeout' | 'dns' | 'connect' | 'reset' | 'tls' | 'too_large' | 'protocol' | 'unknown') =>
  ({ kind: 'failure', error: { code, message: code }, durationMs: 1 }) as const

function issuesOf(input: RetryPolicyInput) {
  try {
    createRetryPolicy(input, defaults)
  } catch (err) {
    if (err instanceof DomainError) return err.issues.map((i) => i.path)
    throw err
  }
  throw new Error('expected a refusal')
}

/** A task that has made `attempts` attempts under `policy` and is in process. */
function taskAfter(attempts: number, policy: RetryPolicy = createRetryPolicy({}, defaults)) {
  let task = createTask({
    id: 'id-1' as TaskId,
    ownerKeyId: 'k',
    request: { method: 'GET', url: 'http://x.test/', headers: [], body: null, timeoutMs: 1000 },
    retry: policy,
    now,
  })
  for (let n = 1; n <= attempts; n++) {
    task = moveTask(task, 'in_process', now)
    if (n < attempts) task = moveTask(moveTask(task, 'scheduled', now, { runAt: now, reason: 'retry' }), 'new', now)
  }
  return task
}

describe('createRetryPolicy', () => {
  it('takes the defaults for every absent field', () => {
    expect(createRetryPolicy({}, defaults)).toEqual({ ...defaults, retryOn: DEFAULT_RETRY_ON })
  })

  it('takes each given field, and each list of retryOn on its own', () => {
    expect(
      createRetryPolicy({ maxAttempts: 2, backoff: { maxMs: 50 }, retryOn: { statuses: [409, 409, 503] } }, defaults),
    ).toEqual({
      maxAttempts: 2,
      backoff: { baseMs: 50, maxMs: 50 }, // the default base is capped by the smaller maxMs given
      retryOn: { statuses: [409, 503], errors: DEFAULT_RETRY_ON.errors },
    })
  })

  it.each([
    ['no attempt at all', { maxAttempts: 0 }, ['retry.maxAttempts']],
    ['over 100 attempts', { maxAttempts: 101 }, ['retry.maxAttempts']],
    ['a fractional count', { maxAttempts: 1.5 }, ['retry.maxAttempts']],
    ['a base over the cap', { backoff: { baseMs: 20, maxMs: 10 } }, ['retry.backoff.baseMs']],
    ['a zero base', { backoff: { baseMs: 0 } }, ['retry.backoff.baseMs']],
    ['a cap over a week', { backoff: { maxMs: 7 * 24 * 3_600_000 + 1 } }, ['retry.backoff.maxMs']],
    ['a 2xx status to retry', { retryOn: { statuses: [503, 200] } }, ['retry.retryOn.statuses']],
  ])('refuses %s, naming the field', (_name, input, paths) => {
    expect(issuesOf(input)).toEqual(paths)
  })
})

describe('isRetryable', () => {
  it.each([408, 429, 500, 503, 599])('retries %i by default', (status) => {
    expect(isRetryable(answer(status), DEFAULT_RETRY_ON)).toBe(true)
  })

  it.each([200, 301, 400, 401, 403, 404, 409, 422])('never retries %i by default', (status) => {
    expect(isRetryable(answer(status), DEFAULT_RETRY_ON)).toBe(false)
  })

  it('retries transport errors but not those that would fail the same way again', () => {
    const codes = ['timeout', 'dns', 'connect', 'reset', 'tls', 'too_large', 'protocol', 'unknown'] as const
    expect(codes.filter((code) => isRetryable(failed(code), DEFAULT_RETRY_ON))).toEqual([
      'timeout',
      'dns',
      'connect',
      'reset',
    ])
  })

  it('follows a narrowed or extended list', () => {
    const retryOn = { statuses: [409], errors: [] }
    expect([409, 503].map((s) => isRetryable(answer(s), retryOn))).toEqual([true, false])
    expect(isRetryable(failed('timeout'), retryOn)).toBe(false)
  })
})

describe('backoffDelayMs', () => {
  const backoff = { baseMs: 100, maxMs: 1_000 }

  it('doubles its ceiling per attempt up to the cap', () => {
    const almostOne = () => 0.999_999
    expect([1, 2, 3, 4, 5, 60].map((n) => backoffDelayMs(n, backoff, almostOne))).toEqual([99, 199, 399, 799, 999, 999])
  })

  it('jitters over the whole range from zero', () => {
    expect(backoffDelayMs(3, backoff, () => 0)).toBe(0)
    expect(backoffDelayMs(3, backoff, () => 0.5)).toBe(200)
    const delays = Array.from({ length: 1_000 }, () => backoffDelayMs(3, backoff, Math.random))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThan(400)
    expect(new Set(delays).size).toBeGreaterThan(100)
  })
})

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter(' 0 ', now)).toBe(0)
  })

  it('reads an HTTP date as the time left until it, and a past date as now', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0)
  })

  it.each(['-1', '1.5', 'soon', '', '2026-01-01T00:01:00Z'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeNull()
  })
})

describe('nextStep', () => {
  const half = () => 0.5

  it('schedules a retryable outcome with attempts left after the jittered backoff', () => {
    expect(nextStep(taskAfter(1), answer(503), now, half)).toEqual({
      status: 'scheduled',
      delayMs: 500,
    })
    expect(nextStep(taskAfter(3), failed('reset'), now, half)).toEqual({
      status: 'scheduled',
      delayMs: 2_000,
    })
  })

  it('gives up with error when the last attempt was retryable, a response too', () => {
    expect(nextStep(taskAfter(5), answer(503), now, half)).toEqual({ status: 'error' })
    expect(nextStep(taskAfter(5), failed('timeout'), now, half)).toEqual({ status: 'error' })
  })

  it('finishes at once on an outcome not worth retrying: done with a response, error without', () => {
    expect(nextStep(taskAfter(1), answer(404), now, half)).toEqual({ status: 'done' })
    expect(nextStep(taskAfter(1), answer(200), now, half)).toEqual({ status: 'done' })
    expect(nextStep(taskAfter(1), failed('tls'), now, half)).toEqual({ status: 'error' })
  })

  it('counts attempts from the last redrive, which grants a fresh budget and backoff', () => {
    const redriven = { ...taskAfter(5), attempts: 6, budgetFrom: 5 }
    expect(nextStep(redriven, answer(503), now, half)).toEqual({
      status: 'scheduled',
      delayMs: 500,
    })
    expect(nextStep({ ...redriven, attempts: 10 }, answer(503), now, half)).toEqual({ status: 'error' })
  })

  it('waits as long as Retry-After asks, but no longer than the cap', () => {
    const policy = createRetryPolicy({ backoff: { baseMs: 10, maxMs: 60_000 } }, defaults)
    const after = (value: string) => nextStep(taskAfter(1, policy), answer(429, [['Retry-After', value]]), now, half)
    expect(after('30')).toEqual({ status: 'scheduled', delayMs: 30_000 })
    expect(after('Thu, 01 Jan 2026 00:00:45 GMT')).toEqual({
      status: 'scheduled',
      delayMs: 45_000,
    })
    expect(after('3600')).toEqual({ status: 'scheduled', delayMs: 60_000 })
    expect(after('garbage')).toEqual({ status: 'scheduled', delayMs: 5 })
  })
})
