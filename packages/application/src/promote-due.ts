import type { TaskId } from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type PromoteDue = (limit: number) => Promise<{ promoted: TaskId[]; nextDueInMs: number | null }>

/**
 * The scheduler's pass: due tasks go back to `new` with an outbox entry, so retries take the usual path. It also
 * says when the next one is due, so a key's rate-limited tasks are queued at their places, not a poll later.
 */
export function makePromoteDue(deps: { tasks: TaskRepository }): PromoteDue {
  return async (limit) => {
    const promoted = await deps.tasks.promoteDue(limit)
    return { promoted, nextDueInMs: promoted.length === limit ? 0 : await deps.tasks.nextDueInMs() }
  }
}
