import { DomainError, invalidRequest, isTaskId } from '@request-tasker/domain'
import type { TaskRepository, TaskView } from './ports/task-repository.js'

export type GetTask = (id: string, ownerKeyId: string) => Promise<TaskView>

export function makeGetTask(deps: { tasks: TaskRepository }): GetTask {
  return async (id, ownerKeyId) => {
    if (!isTaskId(id)) throw invalidRequest([{ path: 'id', message: 'must be a UUID' }])
    const view = await deps.tasks.findOwned(id, ownerKeyId)
    if (view === null) throw new DomainError('task-not-found', `task ${id} does not exist`)
    return view
  }
}
