import type { Attempt, TaskId } from '@request-tasker/domain'
import type { HttpSender } from './ports/http-sender.js'
import type { TaskRepository } from './ports/task-repository.js'

/** Runs `fn` when a send slot is free: the tasker-wide bound on requests in flight. */
export type SendSlots = <T>(fn: () => Promise<T>) => Promise<T>

export type ExecuteTasks = (ids: readonly TaskId[]) => Promise<{ attempts: Attempt[]; skipped: number }>

export function makeExecuteTasks(deps: {
  tasks: TaskRepository
  sender: HttpSender
  slots: SendSlots
  now: () => Date
  leaseGraceMs: number
}): ExecuteTasks {
  return async (ids) => {
    const claimed = await deps.tasks.claim(ids, deps.now(), deps.leaseGraceMs)
    const attempts = await Promise.all(
      claimed.map((task) =>
        deps.slots(async (): Promise<Attempt> => {
          const startedAt = deps.now()
          const outcome = await deps.sender.send(task.request)
          return { taskId: task.id, n: task.attempts, startedAt, outcome }
        }),
      ),
    )
    // One write for the whole batch; only after it returns may the caller acknowledge the messages.
    await deps.tasks.recordAttempts(attempts, deps.now())
    return { attempts, skipped: ids.length - claimed.length }
  }
}
