import type { Callbacks } from './callback.js'
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

/**
 * Every way a task's status changes, by name: from which statuses, to which. This table is the one truth: the
 * store's statements take their status guards from it (as parameters), the in-memory store checks its moves
 * against it, and a use case that refuses an action names the statuses it allows from here.
 */
export const MOVES = {
  /** A tasker takes a task to send it. The status guard makes a redelivered message take nothing. */
  claim: { from: ['new'], to: ['in_process'] },
  /** A claim finds the task's API key using its share of the send slots: it waits, no attempt spent. */
  waitForKey: { from: ['new'], to: ['scheduled'] },
  /** An attempt's verdict, applied only while the claim that made it still holds the task. */
  record: { from: ['in_process'], to: ['done', 'error', 'scheduled'] },
  /** A claim finds the task past its deadline (`expiresAt`): it ends `error`, code `expired`, and is never sent. */
  lapse: { from: ['new'], to: ['error'] },
  /** A lease ran out (its tasker died): sent again while attempts remain, else given up as interrupted. */
  expire: { from: ['in_process'], to: ['new', 'error'] },
  /** A wait is over: its time came (the scheduler), or a slot of its key freed (a wake-up). */
  promote: { from: ['scheduled'], to: ['new'] },
  /** The owner asks for another round of attempts for a task that gave up. */
  redrive: { from: ['error'], to: ['new'] },
  /** The owner withdraws a task nobody is sending; no claim takes it afterwards, so it is never sent. */
  cancel: { from: ['new', 'scheduled'], to: ['cancelled'] },
} as const satisfies Record<string, { from: readonly TaskStatus[]; to: readonly TaskStatus[] }>

export type Move = keyof typeof MOVES

// A task in one of these goes nowhere by itself: only its owner's redrive moves an `error` again.
export const FINAL_STATUSES: readonly TaskStatus[] = ['done', 'error', 'cancelled']
export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status)
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return Object.values(MOVES).some(
    (m) => (m.from as readonly TaskStatus[]).includes(from) && (m.to as readonly TaskStatus[]).includes(to),
  )
}

export function assertTransition(from: TaskStatus, to: TaskStatus): void {
  if (!canTransition(from, to)) throw new DomainError('illegal-transition', `a task cannot go from ${from} to ${to}`)
}

/** The statuses `move` takes a task from, as a store's guard compares them. */
export function movesFrom(move: Move): TaskStatus[] {
  return [...MOVES[move].from]
}

// Why a scheduled task waits: its next retry, the notBefore (or delayMs) it was submitted with, a send slot for its
// API key (whose share of a tasker's slots was in use), or its flow-control key (see flow-control.ts).
export const WAIT_REASONS = [
  'retry',
  'not-before',
  'key-busy',
  'rate-limited',
  'parallelism',
  'paused',
  'circuit-open',
] as const
export type WaitReason = (typeof WAIT_REASONS)[number]

/** A scheduled task's due time and why it waits. */
export type Wait = { readonly runAt: Date; readonly reason: WaitReason }

/** A task sends a client's request, or announces the end of another task (its parent) to a callback URL. */
export type TaskKind = 'request' | 'callback'

/** Why a task ended without an attempt of its own to say so. */
export type EndCode = 'expired'

export type Task = {
  readonly id: TaskId
  readonly ownerKeyId: string
  readonly request: OutboundRequest
  readonly kind: TaskKind
  /** For a callback, the task whose end it announces. */
  readonly parentId: TaskId | null
  /** Where to announce this task's end, per final status; null for none. */
  readonly callbacks: Callbacks | null
  /** Whether each send carries the Standard Webhooks headers, signed with the owner's signing secrets. */
  readonly sign: boolean
  /** The task is not sent after this instant (see deadline.ts); null for no deadline. */
  readonly expiresAt: Date | null
  /** Set when the task ended for a reason none of its attempts gives: its deadline passed. */
  readonly endCode: EndCode | null
  /** Whose limits the task's sends count against, within its owner's keys: by default its URL's origin. */
  readonly flowKey: string
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
  flowKey?: string
  callbacks?: Callbacks | null
  sign?: boolean
  expiresAt?: Date | null
  traceparent?: string | null
  now: Date
}): Task {
  const { id, ownerKeyId, request, retry, runAt = null, now, flowKey = originOf(request.url) } = args
  const { callbacks = null, sign = false, expiresAt = null, traceparent = null } = args
  const status = runAt === null ? 'new' : 'scheduled'
  const waitReason = runAt === null ? null : 'not-before'
  return {
    id,
    ownerKeyId,
    request,
    kind: 'request',
    parentId: null,
    callbacks,
    sign,
    expiresAt,
    endCode: null,
    flowKey,
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

/** A URL's origin (scheme, host, port), the flow-control key of a task that names none. */
export function originOf(url: string): string {
  return new URL(url).origin
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
  // The owner asks for it now: a deadline that passed would end it again at once, so a redrive lifts it.
  return { ...moveTask(task, 'new', now), budgetFrom: task.attempts, expiresAt: null, endCode: null }
}

export function cancelTask(task: Task, now: Date): Task {
  assertCancellable(task.id, task.status)
  return moveTask(task, 'cancelled', now)
}

export function assertCancellable(id: TaskId, status: TaskStatus): void {
  if (!movesFrom('cancel').includes(status)) {
    throw new DomainError(
      'task-not-cancellable',
      `task ${id} is ${status}; only a ${movesFrom('cancel').join(' or ')} task can be cancelled`,
      [],
      status,
    )
  }
}

export function assertRedrivable(id: TaskId, status: TaskStatus): void {
  if (!movesFrom('redrive').includes(status)) {
    throw new DomainError(
      'task-not-retryable',
      `task ${id} is ${status}; only a task in ${movesFrom('redrive').join(' or ')} can be retried`,
      [],
      status,
    )
  }
}
