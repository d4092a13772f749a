import { DomainError } from './errors.js'
import type { OutboundRequest } from './outbound-request.js'
import type { RetryPolicy } from './retry-policy.js'

export type TaskId = string & { readonly __brand: 'TaskId' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export function isTaskId(value: string): value is TaskId {
  return UUID.test(value)
}

// The original service's four names are kept so its clients read statuses unchanged; `scheduled` is new.
export const TASK_STATUSES = ['new', 'scheduled', 'in_process', 'done', 'error', 'cancelled'] as const
export type TaskStatus = (typeof TASK_STATUSES)[number]

// `in_process → new` is the sweeper's requeue of a send whose tasker died: the attempt shows twice, never lost.
// `in_process → scheduled` waits for a retry's time; `scheduled → new` is the scheduler finding it due.
// `new → scheduled` is a claim that found the task's API key using its share of the send slots: it waits,
// key-busy, with no attempt spent. `error → new` is a redrive: the owner asks for another round of attempts. Only a task nobody is sending can be
// cancelled; the claim takes only `new` tasks, so a cancelled one is never sent.
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  new: ['in_process', 'scheduled', 'cancelled'],
  scheduled: ['new', 'cancelled'],
  in_process: ['done', 'error', 'new', 'scheduled'],
  done: [],
  error: ['new'],
  cancelled: [],
}

// A task in one of these goes nowhere by itself: only its owner's redrive moves an `error` again.
export const FINAL_STATUSES: readonly TaskStatus[] = ['done', 'error', 'cancelled']
export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status)
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to)
}

export function assertTransition(from: TaskStatus, to: TaskStatus): void {
  if (!canTransition(from, to)) throw new DomainError('illegal-transition', `a task cannot go from ${from} to ${to}`)
}

// Why a scheduled task waits: its next retry, the notBefore (or delayMs) it was submitted with, or a send slot
// for its API key, whose share of a tasker's slots was in use.
export const WAIT_REASONS = ['retry', 'not-before', 'key-busy'] as const
export type WaitReason = (typeof WAIT_REASONS)[number]

/** A scheduled task's due time and why it waits. */
export type Wait = { readonly runAt: Date; readonly reason: WaitReason }

export type Task = {
  readonly id: TaskId
  readonly ownerKeyId: string
  readonly request: OutboundRequest
  readonly status: TaskStatus
  /** Attempts started so far; the claim of a send increments it. */
  readonly attempts: number
  /** Attempts made before the current budget of `retry.maxAttempts` began: a redrive starts a fresh one. */
  readonly budgetFrom: number
  readonly retry: RetryPolicy
  /** While scheduled: when the task becomes due; null otherwise. */
  readonly runAt: Date | null
  /** While scheduled: why it waits; null otherwise. */
  readonly waitReason: WaitReason | null
  /** The W3C traceparent the task belongs to (see trace-context.ts); null for tasks stored before it was kept. */
  readonly traceparent: string | null
  readonly createdAt: Date
  readonly updatedAt: Date
}

/** A task starts `new`, or `scheduled` when given a `runAt`: it is not sent before then. */
export function createTask(args: {
  id: TaskId
  ownerKeyId: string
  request: OutboundRequest
  retry: RetryPolicy
  runAt?: Date | null
  traceparent?: string | null
  now: Date
}): Task {
  const { id, ownerKeyId, request, retry, runAt = null, traceparent = null, now } = args
  const status = runAt === null ? 'new' : 'scheduled'
  const waitReason = runAt === null ? null : 'not-before'
  return {
    id,
    ownerKeyId,
    request,
    status,
    attempts: 0,
    budgetFrom: 0,
    retry,
    runAt,
    waitReason,
    traceparent,
    createdAt: now,
    updatedAt: now,
  }
}

/** `wait` is given exactly when moving to `scheduled`. */
export function moveTask(task: Task, to: TaskStatus, now: Date, wait: Wait | null = null): Task {
  assertTransition(task.status, to)
  if ((to === 'scheduled') !== (wait !== null)) throw new Error(`a wait goes with scheduled, not ${to}`)
  return {
    ...task,
    status: to,
    runAt: wait?.runAt ?? null,
    waitReason: wait?.reason ?? null,
    updatedAt: now,
    attempts: to === 'in_process' ? task.attempts + 1 : task.attempts,
  }
}

/**
 * Attempts the task may still start in its current budget. An attempt cut short by a crash counts: it may have
 * reached the target, and a request that kills its tasker must not be tried without end.
 */
export function attemptsLeft(task: Pick<Task, 'attempts' | 'budgetFrom' | 'retry'>): number {
  return task.retry.maxAttempts - (task.attempts - task.budgetFrom)
}

/** Sends a task that gave up once more, with a fresh budget of attempts; only a task in `error` can be. */
export function redriveTask(task: Task, now: Date): Task {
  assertRedrivable(task.id, task.status)
  return { ...moveTask(task, 'new', now), budgetFrom: task.attempts }
}

export function cancelTask(task: Task, now: Date): Task {
  assertCancellable(task.id, task.status)
  return moveTask(task, 'cancelled', now)
}

export function assertCancellable(id: TaskId, status: TaskStatus): void {
  if (!canTransition(status, 'cancelled')) {
    throw new DomainError(
      'task-not-cancellable',
      `task ${id} is ${status}; only a new or scheduled task can be cancelled`,
      [],
      status,
    )
  }
}

export function assertRedrivable(id: TaskId, status: TaskStatus): void {
  if (status !== 'error') {
    throw new DomainError(
      'task-not-retryable',
      `task ${id} is ${status}; only a task in error can be retried`,
      [],
      status,
    )
  }
}
