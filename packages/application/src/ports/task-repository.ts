import type { Attempt, NextStep, SendErrorCode, Task, TaskId, TaskStatus } from '@request-tasker/domain'

/** One attempt without its response's headers and body: what a list of attempts shows. */
export type AttemptSummary = {
  readonly n: number
  readonly startedAt: Date
  readonly durationMs: number
  readonly httpStatusCode: number | null
  readonly error: { readonly code: SendErrorCode; readonly message: string } | null
}

/** A task as its owner reads it: the row, every status it passed through, every attempt and the latest in full. */
export type TaskView = {
  readonly task: Task
  readonly history: ReadonlyArray<{ readonly status: TaskStatus; readonly at: Date }>
  readonly attempts: readonly AttemptSummary[]
  readonly lastAttempt: Attempt | null
}

/** A submission's Idempotency-Key, the hash of its body, and the time before which an earlier use has expired. */
export type IdempotencyClaim = { readonly key: string; readonly bodyHash: string; readonly expiredBefore: Date }

/** Either this call stored the task, or an unexpired earlier submission holds the key. */
export type AddOnceResult =
  | { readonly created: true }
  | { readonly created: false; readonly taskId: TaskId; readonly bodyHash: string }

/** An attempt and the verdict on it (see `nextStep`), stored together. */
export type AttemptResult = { readonly attempt: Attempt; readonly next: NextStep }

export interface TaskRepository {
  /**
   * Stores a new task, its first status and, when it is `new`, an outbox entry that asks for its publication: all
   * or nothing. A `scheduled` task waits for promoteDue.
   */
  add(task: Task): Promise<void>
  /**
   * Like add, but only if no submission of the same owner holds `claim.key` since `claim.expiredBefore`; the key
   * is taken in the same statement (a unique index, not a read first), so of two racing submissions one stores.
   */
  addOnce(task: Task, claim: IdempotencyClaim): Promise<AddOnceResult>
  /** Another key's task reads as absent. */
  findOwned(id: TaskId, ownerKeyId: string): Promise<TaskView | null>
  /**
   * Moves the given tasks from `new` to `in_process` and leases each for its timeout plus `leaseGraceMs`.
   * Returns only the tasks this call claimed, so a redelivered message for a claimed or finished task sends nothing.
   */
  claim(ids: readonly TaskId[], now: Date, leaseGraceMs: number): Promise<Task[]>
  /**
   * Stores every attempt and moves its task as its verdict says (done, error, or scheduled at `runAt`), but only
   * while the task is still held by the claim that made the attempt: a late result after a requeue is kept as
   * history, not applied. A task moved to error gets a `task.dead-lettered` outbox entry in the same write.
   */
  recordAttempts(results: readonly AttemptResult[], now: Date): Promise<void>
  /** Puts `in_process` tasks whose lease ran out back to `new` and queues them again; returns their ids. */
  requeueStale(now: Date, limit: number): Promise<TaskId[]>
  /** Moves `scheduled` tasks whose time has come to `new` and queues them, earliest first; returns their ids. */
  promoteDue(now: Date, limit: number): Promise<TaskId[]>
  /**
   * Puts the owner's task back to `new` with a fresh attempt budget and queues it, only if it is in `error` at
   * that moment. Returns the status it found (`error` means redriven), or null when the task is absent.
   */
  redrive(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null>
  /**
   * Moves the owner's task to `cancelled` only if it is `new` or `scheduled` at that moment, so it is never sent.
   * Returns the status it found (`new` or `scheduled` means cancelled), or null when the task is absent.
   */
  cancel(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null>
}
