import type { TaskId } from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type RequeueLost = (limit: number) => Promise<TaskId[]>

/**
 * The reconciler's pass. The outbox entry of a task goes once the broker acknowledged its message, so a message
 * lost after that (the topic recreated, a broker that lost what it had not flushed) would leave the task `new`
 * for good. A task `new` for longer than `afterMs` with no outbox entry is queued again; the claim's status
 * guard makes any message that does still arrive send nothing more.
 */
export function makeRequeueLost(deps: { tasks: TaskRepository; afterMs: number }): RequeueLost {
  return (limit) => deps.tasks.requeueLost(deps.afterMs, limit)
}
