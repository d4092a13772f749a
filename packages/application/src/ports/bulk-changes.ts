import type { TaskFilter } from './task-list.js'

/**
 * Changes to many of an owner's tasks at once, a chunk at a time: each call changes at most `limit` tasks in one
 * statement and says how many; fewer than `limit` means none is left. Tasks another statement holds locked at that
 * moment (a claim, say) are passed over, not waited for.
 */
export interface BulkChanges {
  /** `new` or `scheduled` tasks matching the filter → `cancelled`; returns how many. */
  cancelMatching(ownerKeyId: string, filter: TaskFilter, now: Date, limit: number): Promise<number>
  /** `error` tasks matching the filter → `new`, with a fresh budget and an outbox entry each; returns how many. */
  redriveMatching(ownerKeyId: string, filter: TaskFilter, now: Date, limit: number): Promise<number>
}
