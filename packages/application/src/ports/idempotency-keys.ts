import type { TaskId } from '@request-tasker/domain'

/** The earlier submission an Idempotency-Key names: its task and the hash of its body. */
export type IdempotencyHolder = { readonly taskId: TaskId; readonly bodyHash: string }

/**
 * Read before a keyed submission is checked, so a repeat finds its task whatever the time: a `notBefore` that was in
 * the future at the first try may have passed by the retry. Taking a key stays with `TaskRepository.addOnce`.
 */
export interface IdempotencyKeys {
  /** The owner's use of `key` made at or after `since`, or null when there is none (or it expired). */
  findHolder(ownerKeyId: string, key: string, since: Date): Promise<IdempotencyHolder | null>
  /** findHolder for many keys in one look-up: the holders found, by key. */
  findHolders(ownerKeyId: string, keys: readonly string[], since: Date): Promise<Map<string, IdempotencyHolder>>
}
