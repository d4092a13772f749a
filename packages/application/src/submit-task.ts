import {
  createOutboundRequest,
  createRetryPolicy,
  createTask,
  DomainError,
  type FieldIssue,
  firstRunAt,
  type HeaderLimits,
  invalidRequest,
  type OutboundRequestInput,
  type RetryPolicy,
  type RetryPolicyInput,
  type ScheduleInput,
  type Task,
  type TaskId,
} from '@request-tasker/domain'
import type { IdempotencyHolder, IdempotencyKeys } from './ports/idempotency-keys.js'
import type { TargetPolicy } from './ports/target-policy.js'
import type { TaskRepository } from './ports/task-repository.js'

export type SubmitCommand = {
  ownerKeyId: string
  request: OutboundRequestInput
  retry?: RetryPolicyInput
  schedule?: ScheduleInput
  /** A valid W3C traceparent (see parseTraceparent); null or absent keeps none. */
  traceparent?: string | null
}

export type SubmitTask = (cmd: SubmitCommand) => Promise<TaskId>

/** `created` is false when an earlier submission with the same key and body already stored the task. */
export type SubmitTaskOnce = (
  cmd: SubmitCommand & { idempotencyKey: string; bodyHash: string },
) => Promise<{ id: TaskId; created: boolean }>

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

export type SubmitDeps = {
  tasks: TaskRepository
  targets: TargetPolicy
  newId: () => TaskId
  now: () => Date
  defaultTimeoutMs: number
  defaultRetry: Omit<RetryPolicy, 'retryOn'>
  /** The domain's defaults when absent. */
  headerLimits?: HeaderLimits
  /** Tells the relay a task is waiting; best effort, as the relay also polls. */
  wakeRelay: () => void
}

export function makeSubmitTask(deps: SubmitDeps): SubmitTask {
  return async (cmd) => {
    const task = taskOf(cmd, deps, [])
    // Task, first status and outbox entry commit together: a 201 means it will be sent. A scheduled task gets its
    // outbox entry from the scheduler once due.
    await deps.tasks.add(task)
    if (task.status === 'new') deps.wakeRelay()
    return task.id
  }
}

/**
 * A submission a client may repeat safely: the same key and body within the window name the same task. The key is
 * looked up before the body is checked, so a repeat is answered as the first was even when its `notBefore` has
 * passed meanwhile, and a key held by another body answers 409 whatever that body holds.
 */
export function makeSubmitTaskOnce(
  deps: SubmitDeps & { keys: IdempotencyKeys; idempotencyWindowMs: number },
): SubmitTaskOnce {
  return async (cmd) => {
    const { ownerKeyId, idempotencyKey: key, bodyHash } = cmd
    if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      // Checked with the rest of the body, so a client hears of every bad field at once.
      const issues = [{ path: 'Idempotency-Key', message: `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters` }]
      taskOf(cmd, deps, issues)
    }
    const expiredBefore = new Date(deps.now().getTime() - deps.idempotencyWindowMs)
    const holder = await deps.keys.findHolder(ownerKeyId, key, expiredBefore)
    if (holder) return repeatOf(holder, cmd)

    const task = taskOf(cmd, deps, [])
    // The lookup above is only the common case: two racing first tries both miss it, and the key taken in the
    // inserting statement decides between them.
    const result = await deps.tasks.addOnce(task, { key, bodyHash, expiredBefore })
    if (!result.created) return repeatOf(result, cmd)
    if (task.status === 'new') deps.wakeRelay()
    return { id: task.id, created: true }
  }
}

export function repeatOf(holder: IdempotencyHolder, cmd: { idempotencyKey: string; bodyHash: string }) {
  if (holder.bodyHash !== cmd.bodyHash) {
    throw new DomainError(
      'idempotency-key-reused',
      `Idempotency-Key ${JSON.stringify(cmd.idempotencyKey)} was used for another body within the window`,
    )
  }
  return { id: holder.taskId, created: false }
}

/** Checks every part of a submission, so a client hears of every bad field at once, and builds the task. */
export function taskOf(cmd: SubmitCommand, deps: SubmitDeps, issues: FieldIssue[]): Task {
  const { ownerKeyId, request, retry = {}, schedule = {}, traceparent = null } = cmd
  const now = deps.now()
  const limits = { timeoutMs: deps.defaultTimeoutMs, ...(deps.headerLimits && { headerLimits: deps.headerLimits }) }
  const outbound = collectIssues(issues, () => createOutboundRequest(request, limits))
  const policy = collectIssues(issues, () => createRetryPolicy(retry, deps.defaultRetry))
  const runAt = collectIssues(issues, () => firstRunAt(schedule, now))
  // Refused now rather than failed later: a literal loopback or metadata address can never become sendable.
  if (outbound) issues.push(...deps.targets.check(outbound.url))
  if (issues.length > 0 || !outbound || !policy) throw invalidRequest(issues)
  return createTask({ id: deps.newId(), ownerKeyId, request: outbound, retry: policy, runAt, traceparent, now })
}

function collectIssues<T>(issues: FieldIssue[], check: () => T): T | null {
  try {
    return check()
  } catch (err) {
    if (!(err instanceof DomainError) || err.code !== 'invalid-request') throw err
    issues.push(...err.issues)
    return null
  }
}
