import { DomainError, type TaskId } from '@request-tasker/domain'
import type { BatchEntry, BatchStore } from './ports/batch-store.js'
import type { IdempotencyKeys } from './ports/idempotency-keys.js'
import { MAX_IDEMPOTENCY_KEY_LENGTH, repeatOf, type SubmitCommand, type SubmitDeps, taskOf } from './submit-task.js'

export const MAX_BATCH_ITEMS = 1_000

/** One item of a batch: a submission shaped by the edge (with the hash of its body), or the edge's refusal of it. */
export type BatchItem =
  | { readonly cmd: SubmitCommand; readonly idempotencyKey?: string; readonly bodyHash: string }
  | { readonly refused: DomainError }

/** What became of one item: stored (201), named an earlier submission (200), or refused, with nothing stored. */
export type BatchOutcome =
  | { readonly status: 200 | 201; readonly id: TaskId }
  | { readonly status: 400 | 409; readonly error: DomainError }

export type SubmitBatch = (items: readonly BatchItem[]) => Promise<BatchOutcome[]>

/**
 * Each item is checked on its own, as a single submission is; the valid ones are stored by one statement. An
 * Idempotency-Key per item: held by an earlier submission, the item is its repeat (or 409 with another body); two
 * items of the batch with one key are one submission.
 */
export function makeSubmitBatch(
  deps: SubmitDeps & { batches: BatchStore; keys: IdempotencyKeys; idempotencyWindowMs: number },
): SubmitBatch {
  return async (items) => {
    const ownerKeyId = items.flatMap((i) => ('cmd' in i ? [i.cmd.ownerKeyId] : []))[0]
    const expiredBefore = new Date(deps.now().getTime() - deps.idempotencyWindowMs)
    const keyed = items.flatMap((i) => ('cmd' in i && i.idempotencyKey !== undefined ? [i.idempotencyKey] : []))
    const holders =
      ownerKeyId !== undefined && keyed.length > 0
        ? await deps.keys.findHolders(ownerKeyId, [...new Set(keyed)], expiredBefore)
        : new Map()

    const outcomes: BatchOutcome[] = new Array(items.length)
    const entries: BatchEntry[] = []
    const entryItem: number[] = []
    const firstWithKey = new Map<string, number>()
    const repeats: Array<{ at: number; first: number }> = []
    items.forEach((item, at) => {
      if (!('cmd' in item)) {
        outcomes[at] = refusal(item.refused)
        return
      }
      const key = item.idempotencyKey
      if (key !== undefined) {
        if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
          const message = `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`
          outcomes[at] = refusal(
            new DomainError('invalid-request', 'The request is invalid', [{ path: 'idempotencyKey', message }]),
          )
          return
        }
        const holder = holders.get(key)
        if (holder) {
          outcomes[at] = settle(() => ({ status: 200, id: repeatOf(holder, { ...item, idempotencyKey: key }).id }))
          return
        }
        const first = firstWithKey.get(key)
        if (first !== undefined) {
          repeats.push({ at, first })
          return
        }
      }
      const built = attempt(() => taskOf(item.cmd, deps, []))
      if ('refused' in built) {
        outcomes[at] = built.refused
        return
      }
      if (key !== undefined) firstWithKey.set(key, at)
      entries.push({
        task: built.value,
        claim: key === undefined ? null : { key, bodyHash: item.bodyHash, expiredBefore },
      })
      entryItem.push(at)
    })

    const stored = entries.length > 0 ? await deps.batches.addBatch(entries) : []
    stored.forEach((result, j) => {
      const at = entryItem[j] as number
      const entry = entries[j] as BatchEntry
      outcomes[at] = result.created
        ? { status: 201, id: entry.task.id }
        : settle(() => ({
            status: 200,
            id: repeatOf(result, { idempotencyKey: entry.claim?.key ?? '', bodyHash: entry.claim?.bodyHash ?? '' }).id,
          }))
    })
    for (const { at, first } of repeats) {
      const item = items[at] as Extract<BatchItem, { cmd: SubmitCommand }>
      const firstItem = items[first] as Extract<BatchItem, { cmd: SubmitCommand }>
      const firstOutcome = outcomes[first] as BatchOutcome
      outcomes[at] =
        item.bodyHash !== firstItem.bodyHash
          ? refusal(
              new DomainError(
                'idempotency-key-reused',
                `Idempotency-Key ${JSON.stringify(item.idempotencyKey)} was used for another item of this batch`,
              ),
            )
          : 'id' in firstOutcome
            ? { status: 200, id: firstOutcome.id }
            : firstOutcome
    }
    if (stored.some((r, j) => r.created && entries[j]?.task.status === 'new')) deps.wakeRelay()
    return outcomes
  }
}

function refusal(error: DomainError): BatchOutcome {
  return { status: error.code === 'invalid-request' ? 400 : 409, error }
}

/** Runs a check that may refuse the item; an expected refusal becomes its outcome, anything else is thrown. */
function attempt<T>(check: () => T): { value: T } | { refused: BatchOutcome } {
  try {
    return { value: check() }
  } catch (err) {
    if (err instanceof DomainError) return { refused: refusal(err) }
    throw err
  }
}

function settle(check: () => BatchOutcome): BatchOutcome {
  const result = attempt(check)
  return 'refused' in result ? result.refused : result.value
}
