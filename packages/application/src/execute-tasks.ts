import { type Attempt, nextStep, type TaskId } from '@request-tasker/domain'
import type { HttpSender } from './ports/http-sender.js'
import type { AttemptResult, TaskRepository } from './ports/task-repository.js'

/** Runs `fn` when a send slot is free: the tasker-wide bound on requests in flight. */
export type SendSlots = <T>(fn: () => Promise<T>) => Promise<T>

export type ExecuteTasks = (ids: readonly TaskId[]) => Promise<{ results: AttemptResult[]; skipped: number }>

export function makeExecuteTasks(deps: {
  tasks: TaskRepository
  sender: HttpSender
  slots: SendSlots
  now: () => Date
  /** In [0, 1): the backoff's jitter. */
  random: () => number
  leaseGraceMs: number
}): ExecuteTasks {
  return async (ids) => {
    const claimed = await deps.tasks.claim(ids, deps.now(), deps.leaseGraceMs)
    const results = await Promise.all(
      claimed.map((task) =>
        deps.slots(async (): Promise<AttemptResult> => {
          const startedAt = deps.now()
          const outcome = await deps.sender.send(task.request)
          const attempt: Attempt = { taskId: task.id, n: task.attempts, startedAt, outcome }
          return { attempt, next: nextStep(task, outcome, deps.now(), deps.random) }
        }),
      ),
    )
    // One write for the whole batch; only after it returns may the caller acknowledge the messages.
    await deps.tasks.recordAttempts(results, deps.now())
    return { results, skipped: ids.length - claimed.length }
  }
}
