import { isFinal, type TaskId } from '@request-tasker/domain'
import type { TaskRepository } from './ports/task-repository.js'

/**
 * The repository, telling `announce` of the tasks its writes ended (done or error) once each write resolved, so
 * the long-polls on them wake: outcomes stored, leases run out with no attempts left, and claims that found a task
 * past its deadline. A late outcome that ends nothing (its task was requeued meanwhile) is announced too: its
 * waiters read the task, find it still running, and wait on.
 */
export function announcingEnds<T extends TaskRepository>(tasks: T, announce: (ids: readonly TaskId[]) => void): T {
  return {
    ...tasks,
    async claim(ids, policy, room) {
      const claimed = await tasks.claim(ids, policy, room)
      announce(claimed.expired)
      return claimed
    },
    async recordAttempts(results) {
      await tasks.recordAttempts(results)
      announce(results.filter((r) => isFinal(r.next.status)).map((r) => r.attempt.taskId))
    },
    async expireLeases(limit) {
      const expired = await tasks.expireLeases(limit)
      announce(expired.interrupted)
      return expired
    },
  }
}
