import { type FieldIssue, invalidRequest } from './errors.js'

export const MAX_SCHEDULE_AHEAD_MS = 365 * 24 * 60 * 60 * 1000

/** When a client wants its task sent: at an instant, or after a delay; neither means now. */
export type ScheduleInput = { notBefore?: string; delayMs?: number }

// RFC 3339 date-time: a full date, a time and a zone; Date.parse alone would accept far looser forms.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/

/** The time a submitted task first becomes due, or null to send it at once. A past `notBefore` is a mistake. */
export function firstRunAt(input: ScheduleInput, now: Date): Date | null {
  const { notBefore, delayMs } = input
  const issues: FieldIssue[] = []
  let runAt: Date | null = null
  if (notBefore !== undefined && delayMs !== undefined) {
    issues.push({ path: 'notBefore', message: 'give notBefore or delayMs, not both' })
  } else if (notBefore !== undefined) {
    const at = parseInstant(notBefore)?.getTime() ?? Number.NaN
    if (Number.isNaN(at)) {
      issues.push({ path: 'notBefore', message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T12:00:00Z' })
    } else if (at <= now.getTime()) {
      issues.push({ path: 'notBefore', message: 'must be in the future' })
    } else if (at - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
      issues.push({ path: 'notBefore', message: 'must be within a year' })
    } else {
      runAt = new Date(at)
    }
  } else if (delayMs !== undefined) {
    if (!Number.isInteger(delayMs) || delayMs < 1 || delayMs > MAX_SCHEDULE_AHEAD_MS) {
      issues.push({ path: 'delayMs', message: `must be an integer from 1 to ${MAX_SCHEDULE_AHEAD_MS}` })
    } else {
      runAt = new Date(now.getTime() + delayMs)
    }
  }
  if (issues.length > 0) throw invalidRequest(issues)
  return runAt
}

/** An RFC 3339 date-time as a Date, or null for anything else (Date.parse alone takes far looser forms). */
export function parseInstant(text: string): Date | null {
  const at = RFC3339.test(text) ? Date.parse(text) : Number.NaN
  return Number.isNaN(at) ? null : new Date(at)
}
