import type { Attempt, TaskId } from '@request-tasker/domain'

/**
 * What the dead-letter topic receives when a task gives up: its last outcome, without the response's headers and
 * body (read those with GET). `reason` tells it apart from an unreadable message dead-lettered by the consumer.
 */
export type DeadLetter = {
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

export function deadLetterOf({ taskId, n, startedAt, outcome }: Attempt): DeadLetter {
  return {
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
