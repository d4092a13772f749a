import { type FieldIssue, invalidRequest } from './errors.js'
import { MAX_SCHEDULE_AHEAD_MS } from './schedule.js'

/** A task's deadline as a client gives it: an instant, or a duration from submission. */
export type DeadlineInput = { expiresAt?: string; maxRetryDurationMs?: number }

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/**
 * The instant after which the task is not sent (null: none). `maxRetryDurationMs` counts from submission, so a
 * task and its retries together take at most that long. A deadline before the task's first run could never be met.
 */
export function deadlineOf(input: DeadlineInput, now: Date, runAt: Date | null): Date | null {
  const { expiresAt, maxRetryDurationMs } = input
  const issues: FieldIssue[] = []
  let deadline: Date | null = null
  if (expiresAt !== undefined && maxRetryDurationMs !== undefined) {
    issues.push({ path: 'expiresAt', message: 'give expiresAt or maxRetryDurationMs, not both' })
  } else if (expiresAt !== undefined) {
    const at = RFC3339.test(expiresAt) ? Date.parse(expiresAt) : Number.NaN
    if (Number.isNaN(at)) {
      issues.push({ path: 'expiresAt', message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T12:00:00Z' })
    } else if (at <= now.getTime()) {
      issues.push({ path: 'expiresAt', message: 'must be in the future' })
    } else if (at - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
      issues.push({ path: 'expiresAt', message: 'must be within a year' })
    } else {
      deadline = new Date(at)
    }
  } else if (maxRetryDurationMs !== undefined) {
    if (!Number.isInteger(maxRetryDurationMs) || maxRetryDurationMs < 1 || maxRetryDurationMs > MAX_SCHEDULE_AHEAD_MS) {
      issues.push({ path: 'maxRetryDurationMs', message: `must be an integer from 1 to ${MAX_SCHEDULE_AHEAD_MS}` })
    } else {
      deadline = new Date(now.getTime() + maxRetryDurationMs)
    }
  }
  if (deadline !== null && runAt !== null && runAt >= deadline) {
    const field = expiresAt !== undefined ? 'expiresAt' : 'maxRetryDurationMs'
    issues.push({ path: field, message: 'must fall after the task is due (notBefore or delayMs)' })
  }
  if (issues.length > 0) throw invalidRequest(issues)
  return deadline
}

/** Whether a task with this deadline may still start a send at `now`: never at or past it. */
export function isPastDeadline(expiresAt: Date | null, now: Date): boolean {
  return expiresAt !== null && now.getTime() >= expiresAt.getTime()
}
