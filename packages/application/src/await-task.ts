import { DomainError, invalidRequest, isFinal, isTaskId } from '@request-tasker/domain'
import type { TaskEndings } from './ports/task-endings.js'
import type { TaskRepository, TaskView } from './ports/task-repository.js'

export const MAX_WAIT_MS = 60_000

/** The owner's task, once it has ended or `waitMs` passed (or `signal` aborted), whichever comes first. */
export type AwaitTask = (id: string, ownerKeyId: string, waitMs: number, signal?: AbortSignal) => Promise<TaskView>

/**
 * A long-poll: the task is read once, and again only when the shared listener says it may have ended, or when the
 * wait runs out. No read of the store per waiter while it waits.
 */
export function makeAwaitTask(deps: { tasks: TaskRepository; endings: TaskEndings; now: () => Date }): AwaitTask {
  return async (id, ownerKeyId, waitMs, signal) => {
    if (!isTaskId(id)) throw invalidRequest([{ path: 'id', message: 'must be a UUID' }])
    if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_WAIT_MS) {
      throw invalidRequest([{ path: 'wait', message: `must be an integer from 0 to ${MAX_WAIT_MS / 1000} (seconds)` }])
    }
    const deadline = deps.now().getTime() + waitMs
    for (;;) {
      // Watched before the read: an end that lands between the two still wakes this wait.
      const watch = waitMs > 0 ? deps.endings.watch(id) : null
      try {
        const view = await deps.tasks.findOwned(id, ownerKeyId)
        if (view === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
        const left = deadline - deps.now().getTime()
        if (!watch || isFinal(view.task.status) || left <= 0 || signal?.aborted) return view
        await watch.next(left, signal)
      } finally {
        watch?.close()
      }
    }
  }
}
