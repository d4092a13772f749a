import { DomainError, type FlowLimits, type TaskId } from '@request-tasker/domain'
import type { BatchEntry, BatchStore } from './ports/batch-store.js'
import type { IdempotencyKeys } from './ports/idempotency-keys.js'
import {
  assertSignable,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  repeatOf,
  type SubmitCommand,
  type SubmitDeps,
  taskOf,
} from './submit-task.js'

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

type CommandItem = Extract<BatchItem, { cmd: SubmitCommand }>

/**
 * Each item is checked on its own, as a single submission is (its flow control, callbacks, signing and deadline
 * included); the valid ones are stored by one statement. An Idempotency-Key per item: held by an earlier submission,
 * the item is its repeat (or 409 with another body); two items of the batch with one key are one submission.
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
    const built: Array<{ at: number; entry: BatchEntry; limits: FlowLimits | null }> = []
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
      const checked = attempt(() => taskOf(item.cmd, deps, []))
      if ('refused' in checked) {
        outcomes[at] = checked.refused
        return
      }
      if (key !== undefined) firstWithKey.set(key, at)
      const { task, limits } = checked.value
      const claim = key === undefined ? null : { key, bodyHash: item.bodyHash, expiredBefore }
      built.push({ at, entry: { task, claim }, limits })
    })

    // A signed task, or one with a callback, needs a signing secret of its key, as a single submission does: the
    // batch's one owner is asked once.
    const { signing: given } = deps
    const signing = given && { ...given, secrets: { hasActive: once((id: string) => given.secrets.hasActive(id)) } }
    const signable = await Promise.all(
      built.map(({ at, entry }) =>
        assertSignable(entry.task, (items[at] as CommandItem).cmd, { ...deps, ...(signing && { signing }) }).then(
          () => null,
          (err: unknown) => {
            if (err instanceof DomainError) return refusal(err)
            throw err
          },
        ),
      ),
    )
    const kept = built.filter(({ at }, j) => {
      const refused = signable[j]
      if (refused) outcomes[at] = refused
      return !refused
    })
    // The limits an item's flowControl sets, in the batch's order, before its task is stored.
    for (const { entry, limits } of kept) {
      if (limits) await deps.flowControls?.put(entry.task.ownerKeyId, entry.task.flowKey, limits)
    }
    const entries = kept.map((k) => k.entry)
    const entryItem = kept.map((k) => k.at)

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
      const item = items[at] as CommandItem
      const firstItem = items[first] as CommandItem
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

/** The first call's answer, for every call (whatever their arguments): the batch has one owner. */
function once<A extends unknown[], T>(f: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let answer: Promise<T> | undefined
  return (...args) => {
    answer ??= f(...args)
    return answer
  }
}

function settle(check: () => BatchOutcome): BatchOutcome {
  const result = attempt(check)
  return 'refused' in result ? result.refused : result.value
}
