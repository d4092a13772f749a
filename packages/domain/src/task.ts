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
// `error → new` is a redrive: the owner asks for another round of attempts. Only a task nobody is sending can be
// cancelled; the claim takes only `new` tasks, so a cancelled one is never sent.
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  new: ['in_process', 'cancelled'],
  scheduled: ['new', 'cancelled'],
  in_process: ['done', 'error', 'new', 'scheduled'],
  done: [],
  error: ['new'],
  cancelled: [],
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to)
}

export function assertTransition(from: TaskStatus, to: TaskStatus): void {
  if (!canTransition(from, to)) throw new DomainError('illegal-transition', `a task cannot go from ${from} to ${to}`)
}

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
  now: Date
}): Task {
  const { id, ownerKeyId, request, retry, runAt = null, now } = args
  const status = runAt === null ? 'new' : 'scheduled'
  return { id, ownerKeyId, request, status, attempts: 0, budgetFrom: 0, retry, runAt, createdAt: now, updatedAt: now }
}

/** `runAt` is given exactly when moving to `scheduled`. */
export function moveTask(task: Task, to: TaskStatus, now: Date, runAt: Date | null = null): Task {
  assertTransition(task.status, to)
  if ((to === 'scheduled') !== (runAt !== null)) throw new Error(`runAt goes with scheduled, not ${to}`)
  return {
    ...task,
    status: to,
    runAt,
    updatedAt: now,
    attempts: to === 'in_process' ? task.attempts + 1 : task.attempts,
  }
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
