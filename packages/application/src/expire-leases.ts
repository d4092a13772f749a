import type { ExpiredLeases, TaskRepository } from './ports/task-repository.js'

export type ExpireLeases = (limit: number) => Promise<ExpiredLeases>

/**
 * Backstop for a tasker that died mid-send: its leased tasks go back to `new` and through the outbox again, or end
 * `error` (`interrupted`) once the interruptions used up their attempts. A live tasker renews its leases, so only a
 * dead one's (or one cut off from the database for longer than the grace) run out.
 */
export function makeExpireLeases(deps: { tasks: TaskRepository }): ExpireLeases {
  return (limit) => deps.tasks.expireLeases(limit)
}
