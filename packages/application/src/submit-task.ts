import {
  createOutboundRequest,
  createRetryPolicy,
  createTask,
  DomainError,
  type FieldIssue,
  invalidRequest,
  type OutboundRequestInput,
  type RetryPolicy,
  type RetryPolicyInput,
  type TaskId,
} from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type SubmitTask = (cmd: {
  ownerKeyId: string
  request: OutboundRequestInput
  retry?: RetryPolicyInput
}) => Promise<TaskId>

export function makeSubmitTask(deps: {
  tasks: TaskRepository
  newId: () => TaskId
  now: () => Date
  defaultTimeoutMs: number
  defaultRetry: Omit<RetryPolicy, 'retryOn'>
}): SubmitTask {
  return async ({ ownerKeyId, request, retry = {} }) => {
    const issues: FieldIssue[] = []
    const outbound = collectIssues(issues, () => createOutboundRequest(request, { timeoutMs: deps.defaultTimeoutMs }))
    const policy = collectIssues(issues, () => createRetryPolicy(retry, deps.defaultRetry))
    if (!outbound || !policy) throw invalidRequest(issues)
    const task = createTask({ id: deps.newId(), ownerKeyId, request: outbound, retry: policy, now: deps.now() })
    await deps.tasks.add(task) // task, first status and outbox entry commit together: a 201 means it will be sent
    return task.id
  }
}

/** Runs one check, keeping its refusals, so a client hears of every bad field at once. */
function collectIssues<T>(issues: FieldIssue[], check: () => T): T | null {
  try {
    return check()
  } catch (err) {
    if (!(err instanceof DomainError) || err.code !== 'invalid-request') throw err
    issues.push(...err.issues)
    return null
  }
}
