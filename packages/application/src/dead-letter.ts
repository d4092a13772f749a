import { type Attempt, END_MESSAGES, type TaskId } from '@request-tasker/domain'

/** The one message type of the dead-letter topic (`task.dead-lettered.v1`); a breaking change is a new version. */
export type DeadLetter = GaveUp | Expired | Unreadable

/**
 * A task that gave up (status `error`): its last outcome, without the response's headers and body (read those with
 * GET). Written through the outbox by the statement that ends the task.
 */
export type GaveUp = {
  readonly version: 1
  readonly reason: 'gave-up'
  readonly taskId: TaskId
  readonly attemptCount: number
  readonly lastAttempt: {
    readonly n: number
    readonly startedAt: string
    readonly durationMs: number
    readonly httpStatusCode?: number
    readonly error?: { readonly code: string; readonly message: string }
  }
}

/**
 * A task that ended because its deadline passed: never sent again after it. `lastAttempt` as in GaveUp when it was
 * tried before (its retry would have started too late), absent when it never was.
 */
export type Expired = {
  readonly version: 1
  readonly reason: 'expired'
  readonly taskId: TaskId
  readonly attemptCount: number
  readonly expiresAt: string
  readonly error: { readonly code: 'expired'; readonly message: string }
  readonly lastAttempt?: GaveUp['lastAttempt']
}

/**
 * The dead letter of a task past its deadline, after `attempt` (null: never tried). Without `expiresAt`, the
 * statement that stores it adds the task's own (record-attempts.ts).
 */
export function expiredLetterOf(
  taskId: TaskId,
  expiresAt: Date | null,
  attempt: Attempt | null,
  attemptCount: number,
): Expired | Omit<Expired, 'expiresAt'> {
  return {
    version: 1,
    reason: 'expired',
    taskId,
    attemptCount,
    ...(expiresAt !== null && { expiresAt: expiresAt.toISOString() }),
    error: { code: 'expired', message: END_MESSAGES.expired },
    ...(attempt !== null && { lastAttempt: deadLetterOf(attempt).lastAttempt }),
  }
}

/** A message of the tasks topic that names no task: kept byte for byte, so nothing is lost, and skipped. */
export type Unreadable = {
  readonly version: 1
  readonly reason: 'unreadable'
  /** Why it could not be read. */
  readonly detail: string
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string }
  readonly key: Bytes | null
  readonly value: Bytes | null
}

/** UTF-8 text stays readable; anything else is kept exactly, as base64. */
export type Bytes = { readonly encoding: 'utf8' | 'base64'; readonly data: string }

export function deadLetterOf({ taskId, n, startedAt, outcome }: Attempt): GaveUp {
  return {
    version: 1,
    reason: 'gave-up',
    taskId,
    attemptCount: n,
    lastAttempt: {
      n,
      startedAt: startedAt.toISOString(),
      durationMs: outcome.durationMs,
      ...(outcome.kind === 'response' ? { httpStatusCode: outcome.httpStatusCode } : { error: outcome.error }),
    },
  }
}

export function unreadableLetterOf(
  message: { key: Uint8Array | null; value: Uint8Array | null },
  detail: string,
  source: Unreadable['source'],
): Unreadable {
  return {
    version: 1,
    reason: 'unreadable',
    detail,
    source,
    key: message.key === null ? null : bytesOf(message.key),
    value: message.value === null ? null : bytesOf(message.value),
  }
}

function bytesOf(bytes: Uint8Array): Bytes {
  try {
    return { encoding: 'utf8', data: new TextDecoder('utf-8', { fatal: true }).decode(bytes) }
  } catch {
    return { encoding: 'base64', data: Buffer.from(bytes).toString('base64') }
  }
}
