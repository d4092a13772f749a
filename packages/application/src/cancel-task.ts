import { assertCancellable, DomainError, invalidRequest, isTaskId } from '@request-tasker/domain'
import type { TaskRepository, TaskView } from './ports/task-repository.js'

export type CancelTask = (id: string, ownerKeyId: string) => Promise<TaskView>

/** Withdraws a task nobody is sending yet; a task already claimed, finished or cancelled answers with its status. */
export function makeCancelTask(deps: { tasks: TaskRepository; now: () => Date }): CancelTask {
  return async (id, ownerKeyId) => {
    if (!isTaskId(id)) throw invalidRequest([{ path: 'id', message: 'must be a UUID' }])
    // One conditional write races safely with the claim: whichever lands first wins, the other changes nothing.
    const found = await deps.tasks.cancel(id, ownerKeyId, deps.now())
    if (found === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
    assertCancellable(id, found)
    const view = await deps.tasks.findOwned(id, ownerKeyId)
    if (view === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
    return view
  }
}
