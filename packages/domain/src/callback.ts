import type { Attempt, SendOutcome } from './attempt.js'
import { DomainError, type FieldIssue, invalidRequest } from './errors.js'
import { createOutboundRequest, type HeaderLimits, type HeaderList, type OutboundRequest } from './outbound-request.js'
import type { RetryPolicy } from './retry-policy.js'
import type { EndCode, Task, TaskId, TaskStatus } from './task.js'

/**
 * Where a task's end is announced: a POST of its CallbackDocument, sent as a task of its own (kind `callback`) that
 * the statement ending the parent writes, so it is retried, guarded and flow-controlled like any task.
 */
export type CallbackTarget = {
  /** The POST to send, without a body: the body is the parent's CallbackDocument, made when the parent ends. */
  readonly request: OutboundRequest
  /** The flow-control key its sends count against: its URL's origin. */
  readonly flowKey: string
  readonly retry: RetryPolicy
}

/** A task's callbacks by final status; `error` falls back to the plain `callback` when no failureCallback is given. */
export type Callbacks = { readonly done: CallbackTarget | null; readonly error: CallbackTarget | null }

export type CallbackInput = {
  url: string
  headers?: Record<string, string | readonly string[]>
  secretHeaders?: string[]
}

/**
 * Checks `callback` and `failureCallback` as a task's own URL and headers are checked (the same rules, the same
 * SSRF policy at submission and at connect time), each issue under its field's name.
 */
export function createCallbacks(
  input: { callback?: CallbackInput; failureCallback?: CallbackInput },
  defaults: { timeoutMs: number; headerLimits?: HeaderLimits; retry: RetryPolicy },
): Callbacks | null {
  const issues: FieldIssue[] = []
  const target = (field: 'callback' | 'failureCallback', given: CallbackInput | undefined): CallbackTarget | null => {
    if (given === undefined) return null
    try {
      const request = createOutboundRequest(
        { method: 'POST', url: given.url, headers: withJsonType(given.headers ?? {}), ...secretOf(given) },
        { timeoutMs: defaults.timeoutMs, ...(defaults.headerLimits && { headerLimits: defaults.headerLimits }) },
      )
      return { request, flowKey: new URL(request.url).origin, retry: defaults.retry }
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'invalid-request') throw err
      issues.push(...err.issues.map((i) => ({ path: `${field}.${i.path}`, message: i.message })))
      return null
    }
  }
  const done = target('callback', input.callback)
  const failure = target('failureCallback', input.failureCallback)
  if (issues.length > 0) throw invalidRequest(issues)
  if (done === null && failure === null) return null
  return { done, error: failure ?? done }
}

const secretOf = (given: CallbackInput) => (given.secretHeaders ? { secretHeaders: given.secretHeaders } : {})

function withJsonType(headers: Record<string, string | readonly string[]>) {
  const typed = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')
  return typed ? headers : { ...headers, 'Content-Type': 'application/json' }
}

/** The callback a task that ended with `status` sends, if any. */
export function callbackFor(callbacks: Callbacks | null, status: TaskStatus): CallbackTarget | null {
  if (callbacks === null) return null
  return status === 'done' ? callbacks.done : status === 'error' ? callbacks.error : null
}

/** What a callback POSTs: the ended task, its final status, and its last attempt's result as stored. */
export type CallbackDocument = {
  readonly type: 'task.finished'
  readonly taskId: TaskId
  readonly status: 'done' | 'error'
  readonly attemptCount: number
  /** When the task was submitted and when it ended; filled in by the statement that ends it. */
  readonly createdAt?: string
  readonly finishedAt?: string
  /** Set when the task ended for a reason no attempt gives (`expired`). */
  readonly error?: { readonly code: EndCode; readonly message: string }
  readonly lastAttempt: CallbackAttempt | null
}

export type CallbackAttempt = {
  readonly n: number
  readonly startedAt: string
  readonly durationMs: number
  readonly httpStatusCode?: number
  readonly headers?: Record<string, string | string[]>
  readonly length?: number
  readonly body?: string
  readonly bodyEncoding?: 'utf8' | 'base64'
  readonly bodyTruncated?: boolean
  readonly error?: { readonly code: string; readonly message: string }
}

/** The document for a task that ended `status` after `attempt` (null: it ended before any attempt). */
export function callbackDocument(args: {
  taskId: TaskId
  status: 'done' | 'error'
  attemptCount: number
  attempt: Attempt | null
  endCode?: EndCode | null
}): CallbackDocument {
  const { taskId, status, attemptCount, attempt, endCode = null } = args
  return {
    type: 'task.finished',
    taskId,
    status,
    attemptCount,
    ...(endCode !== null && { error: { code: endCode, message: END_MESSAGES[endCode] } }),
    lastAttempt: attempt === null ? null : attemptOf(attempt),
  }
}

export const END_MESSAGES: Record<EndCode, string> = {
  expired: 'the task was not sent before its deadline (expiresAt or maxRetryDurationMs)',
}

function attemptOf({ n, startedAt, outcome }: Attempt): CallbackAttempt {
  const base = { n, startedAt: startedAt.toISOString(), durationMs: outcome.durationMs }
  if (outcome.kind === 'failure') return { ...base, error: outcome.error }
  return {
    ...base,
    httpStatusCode: outcome.httpStatusCode,
    headers: headersObject(outcome.headers),
    length: outcome.length,
    ...encodeBody(outcome),
    bodyTruncated: outcome.bodyTruncated,
  }
}

/** Repeated names become one array, in arrival order; names differing only in case are one name. */
export function headersObject(list: HeaderList): Record<string, string | string[]> {
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

/** A stored body as text when it is UTF-8 (a truncated one may end inside a character), else as base64. */
export function encodeBody(outcome: Extract<SendOutcome, { kind: 'response' }>): {
  body: string
  bodyEncoding: 'utf8' | 'base64'
} {
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(outcome.body, {
      stream: outcome.bodyTruncated,
    })
    return { body: text, bodyEncoding: 'utf8' }
  } catch {
    return { body: base64Of(outcome.body), bodyEncoding: 'base64' }
  }
}

// The domain has no Buffer: a plain loop over btoa's binary string.
function base64Of(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/**
 * The callback task announcing `parent`'s end: a new task of its owner, POSTing `document` to the target, always
 * signed, with the deployment's retry defaults fixed at the parent's submission, in the parent's trace.
 */
export function createCallbackTask(args: {
  id: TaskId
  parent: Pick<Task, 'id' | 'ownerKeyId' | 'traceparent'>
  target: CallbackTarget
  document: CallbackDocument
  now: Date
}): Task {
  const { id, parent, target, document, now } = args
  return {
    id,
    ownerKeyId: parent.ownerKeyId,
    request: { ...target.request, body: new TextEncoder().encode(JSON.stringify(document)) },
    kind: 'callback',
    parentId: parent.id,
    callbacks: null,
    sign: true,
    expiresAt: null,
    endCode: null,
    flowKey: target.flowKey,
    status: 'new',
    attempts: 0,
    budgetFrom: 0,
    retry: target.retry,
    runAt: null,
    waitReason: null,
    // The callback's sends are spans of the parent's trace: its end is part of the work the trace follows.
    traceparent: parent.traceparent,
    createdAt: now,
    updatedAt: now,
  }
}
