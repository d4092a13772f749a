import type { Task } from '@request-tasker/domain'
import type { AddOnceResult, IdempotencyClaim } from './task-repository.js'

/** A task of a batch, and the Idempotency-Key it takes when it has one. */
export type BatchEntry = { readonly task: Task; readonly claim: IdempotencyClaim | null }

export interface BatchStore {
  /**
   * Stores every entry's task (its first status and, when `new`, its outbox entry) in one statement, except those
   * whose key an unexpired earlier submission holds: one result per entry, in order, as `addOnce` answers. All or
   * nothing: a failure stores none.
   */
  addBatch(entries: readonly BatchEntry[]): Promise<AddOnceResult[]>
}
