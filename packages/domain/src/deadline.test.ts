import { describe, expect, it } from 'vitest'
import { createCallbacks } from './callback.js'
import { deadlineOf, isPastDeadline } from './deadline.js'
import { DEFAULT_RETRY_ON, nextStep } from './retry-policy.js'
import { createTask, type TaskId } from './task.js'

const now = new Date('2026-01-01T00:00:00Z')
const retry = { maxAttempts: 5, backoff: { baseMs: 1_000, maxMs: 10_000 }, retryOn: DEFAULT_RETRY_ON }

describe('deadlineOf', () => {
  it('takes an instant, or a duration from submission, and none when neither is given', () => {
    expect(deadlineOf({ expiresAt: '2026-01-01T00:00:05Z' }, now, null)).toEqual(new Date('2026-01-01T00:00:05Z'))
    expect(deadlineOf({ maxRetryDurationMs: 5_000 }, now, null)).toEqual(new Date('2026-01-01T00:00:05Z'))
    expect(deadlineOf({}, now, null)).toBeNull()
  })

  it('refuses a deadline that could never be met', () => {
    expect(() => deadlineOf({ expiresAt: '2026-01-01T00:00:00Z' }, now, null)).toThrow()
    expect(() => deadlineOf({ maxRetryDurationMs: 1_000 }, now, new Date('2026-01-01T00:00:01Z'))).toThrow()
  })

  it('lets no send start at or past the deadline', () => {
    const at = new Date('2026-01-01T00:00:05Z')
    expect(isPastDeadline(at, new Date(at.getTime() - 1))).toBe(false)
    expect(isPastDeadline(at, at)).toBe(true)
    expect(isPastDeadline(null, at)).toBe(false)
  })
})

describe('nextStep with a deadline', () => {
  const outcome = {
    kind: 'response' as const,
    httpStatusCode: 503,
    headers: [['retry-after', '4']] as const,
    length: 0,
    body: new Uint8Array(),
    bodyTruncated: false,
    durationMs: 5,
  }
  const sent = (expiresAt: Date) => ({
    ...createTask({
      id: 'id-1' as TaskId,
      ownerKeyId: 'k',
      request: { method: 'GET', url: 'https://a.test/', headers: [], body: null, timeoutMs: 1_000 },
      retry,
      expiresAt,
      now,
    }),
    attempts: 1,
  })

  it('schedules a retry due before the deadline', () => {
    expect(nextStep(sent(new Date(now.getTime() + 5_000)), outcome, now, () => 0)).toEqual({
      status: 'scheduled',
      delayMs: 4_000,
    })
  })

  it('ends the task expired when the retry would start at or past the deadline', () => {
    expect(nextStep(sent(new Date(now.getTime() + 4_000)), outcome, now, () => 0)).toEqual({
      status: 'error',
      endCode: 'expired',
    })
  })
})

describe('createCallbacks', () => {
  const defaults = { timeoutMs: 1_000, retry }

  it('sends errors to the plain callback unless a failure callback is given', () => {
    const one = createCallbacks({ callback: { url: 'https://hooks.test/a' } }, defaults)
    expect(one?.error).toBe(one?.done)
    const two = createCallbacks(
      { callback: { url: 'https://hooks.test/a' }, failureCallback: { url: 'https://hooks.test/b' } },
      defaults,
    )
    expect(two?.error?.request.url).toBe('https://hooks.test/b')
    expect(two?.done?.request.headers).toEqual([['Content-Type', 'application/json']])
    expect(createCallbacks({}, defaults)).toBeNull()
  })

  it('names each bad field under its callback, and marks credentials secret', () => {
    expect(() => createCallbacks({ callback: { url: 'ftp://x' }, failureCallback: { url: 'nope' } }, defaults)).toThrow(
      expect.objectContaining({
        issues: [
          expect.objectContaining({ path: 'callback.url' }),
          expect.objectContaining({ path: 'failureCallback.url' }),
        ],
      }),
    )
    const withAuth = createCallbacks(
      { callback: { url: 'https://hooks.test/a', headers: { Authorization: 'x' } } },
      defaults,
    )
    expect(withAuth?.done?.request.secretHeaders).toEqual(['authorization'])
  })
})
