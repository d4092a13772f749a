import type { AttemptSummary, TaskView } from '@request-tasker/application'
import type { HeaderList } from '@request-tasker/domain'
import type { components } from '../generated/openapi.js'

type Schemas = components['schemas']
export type TaskViewJson = Schemas['Task']

/** The JSON a task's owner reads. Built field by field, so nothing stored reaches a client unless listed here. */
export function toTaskViewJson({ task, history, attempts, lastAttempt }: TaskView): TaskViewJson {
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
  }
  // Only a finished task shows a result: after a requeue, a late attempt may be stored while the task is new again.
  const outcome = task.status === 'done' || task.status === 'error' ? lastAttempt?.outcome : undefined
  if (outcome?.kind === 'response') {
    return {
      ...json,
      httpStatusCode: outcome.httpStatusCode,
      headers: headersObject(outcome.headers),
      length: outcome.length,
      ...encodeBody(outcome.body, outcome.bodyTruncated),
      bodyTruncated: outcome.bodyTruncated,
      durationMs: outcome.durationMs,
    }
  }
  if (outcome?.kind === 'failure') {
    return {
      ...json,
      error: { code: outcome.error.code, message: outcome.error.message },
      durationMs: outcome.durationMs,
    }
  }
  return json
}

function attemptJson(a: AttemptSummary): Schemas['Attempt'] {
  return {
    n: a.n,
    startedAt: a.startedAt.toISOString(),
    durationMs: a.durationMs,
    ...(a.httpStatusCode !== null && { httpStatusCode: a.httpStatusCode }),
    ...(a.error !== null && { error: { code: a.error.code, message: a.error.message } }),
  }
}

/** Repeated names (two set-cookie) become one array, in arrival order; names differing only in case are one name. */
function headersObject(list: HeaderList): Schemas['ResponseHeaders'] {
  const byName = new Map<string, { name: string; values: string[] }>()
  for (const [name, value] of list) {
    const seen = byName.get(name.toLowerCase())
    if (seen) seen.values.push(value)
    else byName.set(name.toLowerCase(), { name, values: [value] })
  }
  return Object.fromEntries(
    [...byName.values()].map(({ name, values }) => [name, values.length === 1 ? (values[0] as string) : values]),
  )
}

function encodeBody(bytes: Uint8Array, truncated: boolean): Pick<TaskViewJson, 'body' | 'bodyEncoding'> {
  try {
    // `stream` keeps an incomplete last character of a truncated prefix back instead of calling the bytes binary.
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes, { stream: truncated })
    return { body: text, bodyEncoding: 'utf8' }
  } catch {
    return { body: Buffer.from(bytes).toString('base64'), bodyEncoding: 'base64' }
  }
}
