import type { Attempt, Task, TaskId, TaskStatus } from '@request-tasker/domain'

/** A task as its owner reads it: the row, every status it passed through, and its latest attempt. */
export type TaskView = {
  readonly task: Task
  readonly history: ReadonlyArray<{ readonly status: TaskStatus; readonly at: Date }>
  readonly lastAttempt: Attempt | null
}

export interface TaskRepository {
  /** Stores a new task, its first status and an outbox entry that asks for its publication: all or nothing. */
  add(task: Task): Promise<void>
  /** Another key's task reads as absent. */
  findOwned(id: TaskId, ownerKeyId: string): Promise<TaskView | null>
  /**
   * Moves the given tasks from `new` to `in_process` and leases each for its timeout plus `leaseGraceMs`.
   * Returns only the tasks this call claimed, so a redelivered message for a claimed or finished task sends nothing.
   */
  claim(ids: readonly TaskId[], now: Date, leaseGraceMs: number): Promise<Task[]>
  /**
   * Stores every attempt and moves its task to done or error, but only while the task is still held by
   * the claim that made the attempt: a late result after a requeue is kept as history, not applied.
   */
  recordAttempts(attempts: readonly Attempt[], now: Date): Promise<void>
  /** Puts `in_process` tasks whose lease ran out back to `new` and queues them again; returns their ids. */
  requeueStale(now: Date, limit: number): Promise<TaskId[]>
}
