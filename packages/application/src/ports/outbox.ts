import type { TaskId } from '@request-tasker/domain'
import type { DeadLetter } from '../dead-letter.js'

/**
 * A publication written in the same transaction as the change it announces: a task to send, or a task that gave
 * up, for the dead-letter topic.
 */
export type OutboxEntry =
  | { readonly id: string; readonly kind: 'task.requested'; readonly taskId: TaskId }
  | { readonly id: string; readonly kind: 'task.dead-lettered'; readonly taskId: TaskId; readonly payload: DeadLetter }

export interface Outbox {
  /**
   * Locks up to `limit` pending entries, hands them to `publish`, and deletes them only once it resolves,
   * in one transaction: a crash before the commit republishes them, never drops them.
   */
  drain(limit: number, publish: (entries: readonly OutboxEntry[]) => Promise<void>): Promise<number>
}

export interface QueuePublisher {
  /** Resolves once the broker has acknowledged every entry. */
  publish(entries: readonly OutboxEntry[]): Promise<void>
}
