import {
  createOutboundRequest,
  createRetryPolicy,
  createTask,
  DomainError,
  type FieldIssue,
  firstRunAt,
  invalidRequest,
  type OutboundRequestInput,
  type RetryPolicy,
  type RetryPolicyInput,
  type ScheduleInput,
  type TaskId,
} from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type SubmitTask = (cmd: {
  ownerKeyId: string
  request: OutboundRequestInput
  retry?: RetryPolicyInput
  schedule?: ScheduleInput
}) => Promise<TaskId>

export function makeSubmitTask(deps: {
  tasks: TaskRepository
  newId: () => TaskId
  now: () => Date
  defaultTimeoutMs: number
  defaultRetry: Omit<RetryPolicy, 'retryOn'>
}): SubmitTask {
  return async ({ ownerKeyId, request, retry = {}, schedule = {} }) => {
    const now = deps.now()
    const issues: FieldIssue[] = []
    const outbound = collectIssues(issues, () => createOutboundRequest(request, { timeoutMs: deps.defaultTimeoutMs }))
    const policy = collectIssues(issues, () => createRetryPolicy(retry, deps.defaultRetry))
    const runAt = collectIssues(issues, () => firstRunAt(schedule, now))
    if (issues.length > 0 || !outbound || !policy) throw invalidRequest(issues)
    const task = createTask({ id: deps.newId(), ownerKeyId, request: outbound, retry: policy, runAt, now })
    // Task, first status and outbox entry commit together: a 201 means it will be sent. A scheduled task gets its
    // outbox entry from the scheduler once due.
    await deps.tasks.add(task)
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
