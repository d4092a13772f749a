import type { TaskStatus } from './task.js'

// Expected refusals the core can name. Bugs and infrastructure failures stay plain exceptions.
export type DomainErrorCode =
  | 'invalid-request'
  | 'task-not-found'
  | 'illegal-transition'
  | 'task-not-retryable'
  | 'task-not-cancellable'
  | 'idempotency-key-reused'
  | 'flow-control-not-found'
  | 'signing-secret-not-found'
  | 'too-many-signing-secrets'

/** One reason a submission was refused; `path` names the field, e.g. `headers.Host` or `url`. */
export type FieldIssue = { path: string; message: string }

export class DomainError extends Error {
  readonly code: DomainErrorCode
  readonly issues: readonly FieldIssue[]
  /** For a refusal that depends on a task's status: that status, so a client need not parse the message. */
  readonly taskStatus: TaskStatus | undefined

  constructor(code: DomainErrorCode, message: string, issues: readonly FieldIssue[] = [], taskStatus?: TaskStatus) {
    super(message)
    this.name = 'DomainError'
    this.code = code
    this.issues = issues
    this.taskStatus = taskStatus
  }
}

export function invalidRequest(issues: readonly FieldIssue[]): DomainError {
  return new DomainError('invalid-request', 'The request is invalid', issues)
}
