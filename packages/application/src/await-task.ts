import { DomainError, invalidRequest, isFinal, isTaskId, type TaskId } from '@request-tasker/domain'
import { groupCommit } from './group-commit.js'
import type { TaskEndings } from './ports/task-endings.js'
import type { TaskView } from './ports/task-repository.js'
import type { OwnedTask, TaskViews } from './ports/task-views.js'

export const MAX_WAIT_MS = 60_000
/** Most tasks one read statement takes. */
const READ_BATCH = 200

/** The owner's task, once it has ended or `waitMs` passed (or `signal` aborted), whichever comes first. */
export type AwaitTask = (id: string, ownerKeyId: string, waitMs: number, signal?: AbortSignal) => Promise<TaskView>

/**
 * A long-poll: the task is read once, and again only when the shared listener says it may have ended, or when the
 * wait runs out. No read of the store per waiter while it waits. The reads of waits that overlap go together in one
 * statement: a statement that ends 2,000 tasks wakes 2,000 waits at once, and their reads then take one connection
 * a batch at a time instead of queueing for every connection of the pool.
 */
export function makeAwaitTask(deps: { views: TaskViews; endings: TaskEndings; now: () => Date }): AwaitTask {
  // One statement at a time. A failed read fails every wait it carried, as the store's failure it is: its inputs
  // are ids already checked, none of which a read one by one would spare (and 2,000 of them would queue again).
  const read = groupCommit((tasks: OwnedTask[]) => deps.views.findOwnedMany(tasks), {
    maxBatch: READ_BATCH,
    isUnavailable: () => true,
  })
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
        const view = await read({ id: id as TaskId, ownerKeyId })
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
