import type { TaskId } from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type PromoteDue = (limit: number) => Promise<TaskId[]>

/** The scheduler's pass: due tasks go back to `new` with an outbox entry, so retries take the usual path. */
export function makePromoteDue(deps: { tasks: TaskRepository }): PromoteDue {
  return (limit) => deps.tasks.promoteDue(limit)
}
