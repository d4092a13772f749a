import { assertRedrivable, DomainError, invalidRequest, isTaskId } from '@request-tasker/domain'
import type { TaskRepository, TaskView } from './ports/task-repository.js'

export type RedriveTask = (id: string, ownerKeyId: string) => Promise<TaskView>

/** The owner's "try again" for a task that gave up: back to `new`, through the outbox, with a fresh budget. */
export function makeRedriveTask(deps: { tasks: TaskRepository; now: () => Date }): RedriveTask {
  return async (id, ownerKeyId) => {
    if (!isTaskId(id)) throw invalidRequest([{ path: 'id', message: 'must be a UUID' }])
    // One conditional write, so two redrives at once send the task once; the loser hears the status it found.
    const found = await deps.tasks.redrive(id, ownerKeyId, deps.now())
    if (found === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
    assertRedrivable(id, found)
    const view = await deps.tasks.findOwned(id, ownerKeyId)
    if (view === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
    return view
  }
}
