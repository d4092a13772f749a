import type { TaskRepository } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'

/**
 * The traceparent of every task this tasker holds, so the line that logs its outcome (which carries only the task
 * id) names its trace too. Filled by the claim, emptied as each outcome is logged: it holds at most the tasks in
 * flight.
 */
export function tracedClaims<T extends TaskRepository>(tasks: T) {
  const held = new Map<TaskId, string>()
  return {
    tasks: {
      ...tasks,
      async claim(...args: Parameters<TaskRepository['claim']>) {
        const result = await tasks.claim(...args)
        for (const task of result.claimed) if (task.traceparent) held.set(task.id, task.traceparent)
        return result
      },
    } as T,
    /** The task's traceparent, forgotten once read: call it once, when its outcome is logged. */
    take(id: TaskId): string | undefined {
      const traceparent = held.get(id)
      held.delete(id)
      return traceparent
    },
  }
}
