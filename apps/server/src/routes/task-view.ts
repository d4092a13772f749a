import type { AttemptSummary, TaskView } from '@request-tasker/application'
import type { components } from '@request-tasker/contract'
import { END_MESSAGES, type EndCode, encodeBody, headersObject } from '@request-tasker/domain'

type Schemas = components['schemas']
export type TaskViewJson = Schemas['Task']

/** The JSON a task's owner reads. Built field by field, so nothing stored reaches a client unless listed here. */
export function toTaskViewJson({ task, history, attempts, lastAttempt, callback }: TaskView): TaskViewJson {
  const json: TaskViewJson = {
    id: task.id,
    status: task.status,
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    history: history.map((h) => ({ status: h.status, at: h.at.toISOString(), ...(h.reason && { reason: h.reason }) })),
    attemptCount: task.attempts,
    attempts: attempts.map(attemptJson),
    ...(task.runAt !== null && { nextAttemptAt: task.runAt.toISOString() }),
    ...(task.waitReason !== null && { waitReason: task.waitReason }),
    flowKey: task.flowKey,
    ...(task.expiresAt !== null && { expiresAt: task.expiresAt.toISOString() }),
    ...(task.sign && { sign: true }),
    ...(callback !== null && { callback: { status: callback.status, attempts: callback.attempts } }),
  }
  // A deadline that ended the task says so, beside the response (if any) whose retry would have started too late.
  const ended = task.status === 'error' && task.endCode !== null ? { error: endError(task.endCode) } : {}
  // Only a finished task shows a result: after a requeue, a late attempt may be stored while the task is new again.
  const outcome = task.status === 'done' || task.status === 'error' ? lastAttempt?.outcome : undefined
  if (outcome?.kind === 'response') {
    return {
      ...json,
      ...ended,
      httpStatusCode: outcome.httpStatusCode,
      headers: headersObject(outcome.headers),
      length: outcome.length,
      ...encodeBody(outcome),
      bodyTruncated: outcome.bodyTruncated,
      durationMs: outcome.durationMs,
    }
  }
  if (outcome?.kind === 'failure') {
    return {
      ...json,
      error: { code: outcome.error.code, message: outcome.error.message },
      ...ended,
      durationMs: outcome.durationMs,
    }
  }
  return { ...json, ...ended }
}

const endError = (code: EndCode) => ({ code, message: END_MESSAGES[code] })

function attemptJson(a: AttemptSummary): Schemas['Attempt'] {
  return {
    n: a.n,
    startedAt: a.startedAt.toISOString(),
    durationMs: a.durationMs,
    ...(a.httpStatusCode !== null && { httpStatusCode: a.httpStatusCode }),
    ...(a.error !== null && { error: { code: a.error.code, message: a.error.message } }),
  }
}
