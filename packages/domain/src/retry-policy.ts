import type { SendErrorCode, SendOutcome } from './attempt.js'
import { isPastDeadline } from './deadline.js'
import { type FieldIssue, invalidRequest } from './errors.js'
import { attemptsLeft, type EndCode, type Task } from './task.js'

/** Which outcomes earn another attempt: response statuses and send errors, each an exact list. */
export type RetryOn = { readonly statuses: readonly number[]; readonly errors: readonly SendErrorCode[] }

/** A task's own rules for trying again, fixed at submission. */
export type RetryPolicy = {
  /** Attempts in all, the first included: 1 never retries. */
  readonly maxAttempts: number
  readonly backoff: { readonly baseMs: number; readonly maxMs: number }
  readonly retryOn: RetryOn
}

export const MAX_ATTEMPTS_LIMIT = 100
export const MAX_BACKOFF_MS = 7 * 24 * 60 * 60 * 1000

// Failures where the request most likely never reached the third party, or was lost on the way; the others
// (tls, too_large, protocol, unknown) would fail the same way again. Of the 4xx, only 408 and 429 mean "later".
export const DEFAULT_RETRY_ON: RetryOn = {
  statuses: [408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)],
  errors: ['timeout', 'connect', 'reset', 'dns'],
}

/** What a client may give; every absent field takes the server's default (`retryOn`'s lists each on its own). */
export type RetryPolicyInput = {
  maxAttempts?: number
  backoff?: { baseMs?: number; maxMs?: number }
  retryOn?: { statuses?: readonly number[]; errors?: readonly SendErrorCode[] }
}

export function createRetryPolicy(input: RetryPolicyInput, defaults: Omit<RetryPolicy, 'retryOn'>): RetryPolicy {
  const issues: FieldIssue[] = []
  const maxAttempts = input.maxAttempts ?? defaults.maxAttempts
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) {
    issues.push({ path: 'retry.maxAttempts', message: `must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}` })
  }
  const maxMs = input.backoff?.maxMs ?? defaults.backoff.maxMs
  if (!Number.isInteger(maxMs) || maxMs < 1 || maxMs > MAX_BACKOFF_MS) {
    issues.push({ path: 'retry.backoff.maxMs', message: `must be an integer from 1 to ${MAX_BACKOFF_MS}` })
  }
  // A default base above a client's smaller cap is simply capped; only a base the client gave must fit.
  const baseMs = input.backoff?.baseMs ?? Math.min(defaults.backoff.baseMs, maxMs)
  if (!Number.isInteger(baseMs) || baseMs < 1 || baseMs > maxMs) {
    issues.push({ path: 'retry.backoff.baseMs', message: 'must be an integer from 1 to backoff.maxMs' })
  }
  const statuses = input.retryOn?.statuses ?? DEFAULT_RETRY_ON.statuses
  const badStatus = statuses.find((s) => !Number.isInteger(s) || s < 400 || s > 599)
  if (badStatus !== undefined) {
    issues.push({ path: 'retry.retryOn.statuses', message: `${badStatus} is no 4xx or 5xx status` })
  }
  if (issues.length > 0) throw invalidRequest(issues)
  // Most submissions keep the default lists: they share the one object instead of deduplicating 102 statuses each.
  const retryOn =
    input.retryOn === undefined
      ? DEFAULT_RETRY_ON
      : {
          statuses: [...new Set(statuses)],
          errors: [...new Set(input.retryOn.errors ?? DEFAULT_RETRY_ON.errors)],
        }
  return { maxAttempts, backoff: { baseMs, maxMs }, retryOn }
}

export function isRetryable(outcome: SendOutcome, retryOn: RetryOn): boolean {
  return outcome.kind === 'response'
    ? retryOn.statuses.includes(outcome.httpStatusCode)
    : retryOn.errors.includes(outcome.error.code)
}

/**
 * Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs · 2^(n-1))) after the n-th attempt,
 * so taskers that failed together do not come back together. `random` is in [0, 1), like Math.random.
 */
export function backoffDelayMs(n: number, backoff: RetryPolicy['backoff'], random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(n - 1, 52))
  return Math.floor(random() * ceiling)
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 §10.2.3); null if neither. */
export function parseRetryAfter(value: string, now: Date): number | null {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  // Only the IMF-fixdate and the two obsolete forms name a weekday; a bare number or garbage is no date.
  if (!/^[A-Za-z]{3,9}, /.test(trimmed)) return null
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime())
}

/**
 * What becomes of a task after an attempt: finished (done or error) or scheduled for another attempt `delayMs` from
 * when the outcome is stored. A delay, not an instant: the store adds it to the database's clock, the one clock
 * that every due time is set and compared with.
 */
export type NextStep =
  | { readonly status: 'done' }
  | { readonly status: 'error'; readonly endCode?: EndCode }
  | { readonly status: 'scheduled'; readonly delayMs: number }

/**
 * The verdict on attempt `task.attempts`. A response not worth retrying is `done`, whatever its status; a
 * retryable outcome with attempts left is `scheduled`; one with none left is `error` (we gave up), a 503 too.
 * A third party's `Retry-After` replaces the jittered delay, but never waits longer than `backoff.maxMs`. A retry due
 * at or past the task's deadline ends it `error` (`expired`) instead.
 */
export function nextStep(task: Task, outcome: SendOutcome, now: Date, random: () => number): NextStep {
  const policy = task.retry
  if (!isRetryable(outcome, policy.retryOn)) return { status: outcome.kind === 'response' ? 'done' : 'error' }
  if (attemptsLeft(task) <= 0) return { status: 'error' }
  const n = task.attempts - task.budgetFrom // counted from the last redrive, which grants a fresh budget
  const asked = outcome.kind === 'response' ? retryAfterOf(outcome.headers, now) : null
  const delayMs = asked === null ? backoffDelayMs(n, policy.backoff, random) : Math.min(asked, policy.backoff.maxMs)
  // A retry that would start at or past the deadline does not start: the task ends now, as expired.
  if (isPastDeadline(task.expiresAt, new Date(now.getTime() + delayMs))) return { status: 'error', endCode: 'expired' }
  return { status: 'scheduled', delayMs }
}

function retryAfterOf(headers: ReadonlyArray<readonly [string, string]>, now: Date): number | null {
  const header = headers.find(([name]) => name.toLowerCase() === 'retry-after')
  return header ? parseRetryAfter(header[1], now) : null
}
