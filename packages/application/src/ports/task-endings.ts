import type { TaskId } from '@request-tasker/domain'

/** A watch on one task, taken before reading it, so an end between the read and the wait is not missed. */
export type EndWatch = {
  /**
   * Resolves when the task may have ended (told so, or told that news may have been missed), after `timeoutMs`,
   * or when `signal` aborts, whichever comes first. Never rejects.
   */
  next(timeoutMs: number, signal?: AbortSignal): Promise<void>
  /** Stops watching; call it once done with the watch. */
  close(): void
}

/** Tells waiters when a task ends, from one shared source: no reading of the store per waiter. */
export interface TaskEndings {
  watch(id: TaskId): EndWatch
}
