import type { TaskId } from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

export type RequeueStale = (limit: number) => Promise<TaskId[]>

/** Backstop for a tasker that died mid-send: its leased tasks go back to `new` and through the outbox again. */
export function makeRequeueStale(deps: { tasks: TaskRepository; now: () => Date }): RequeueStale {
  return (limit) => deps.tasks.requeueStale(deps.now(), limit)
}
