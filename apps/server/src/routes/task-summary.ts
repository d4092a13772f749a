import type { TaskSummary } from '@request-tasker/application'
import type { components } from '@request-tasker/contract'
import { END_MESSAGES } from '@request-tasker/domain'

/** A list's entry, built field by field as toTaskViewJson builds the whole task. */
export function toTaskSummaryJson(s: TaskSummary): components['schemas']['TaskSummary'] {
  return {
    id: s.id,
    status: s.status,
    method: s.method,
    url: s.url,
    destination: s.destination,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    attemptCount: s.attemptCount,
    ...(s.runAt !== null && { nextAttemptAt: s.runAt.toISOString() }),
    ...(s.waitReason !== null && { waitReason: s.waitReason }),
    ...(s.outcome !== null && s.outcome),
    // A deadline that ended the task says so, as the whole task does (see toTaskViewJson).
    ...(s.status === 'error' && s.endCode !== null && { error: { code: s.endCode, message: END_MESSAGES[s.endCode] } }),
  }
}
