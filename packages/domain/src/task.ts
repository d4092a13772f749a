import { DomainError } from './errors.js'
import type { OutboundRequest } from './outbound-request.js'

export type TaskId = string & { readonly __brand: 'TaskId' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export function isTaskId(value: string): value is TaskId {
  return UUID.test(value)
}

// The original service's four names are kept so its clients read statuses unchanged.
export const TASK_STATUSES = ['new', 'in_process', 'done', 'error'] as const
export type TaskStatus = (typeof TASK_STATUSES)[number]

// `in_process → new` is the sweeper's requeue of a send whose tasker died: the attempt shows twice, never lost.
const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  new: ['in_process'],
  in_process: ['done', 'error', 'new'],
  done: [],
  error: [],
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
  readonly createdAt: Date
  readonly updatedAt: Date
}

export function createTask(args: { id: TaskId; ownerKeyId: string; request: OutboundRequest; now: Date }): Task {
  const { id, ownerKeyId, request, now } = args
  return { id, ownerKeyId, request, status: 'new', attempts: 0, createdAt: now, updatedAt: now }
}

export function moveTask(task: Task, to: TaskStatus, now: Date): Task {
  assertTransition(task.status, to)
  return { ...task, status: to, updatedAt: now, attempts: to === 'in_process' ? task.attempts + 1 : task.attempts }
}
