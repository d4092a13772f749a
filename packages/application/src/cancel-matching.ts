import { type FieldIssue, invalidRequest } from '@request-tasker/domain'
import type { BulkChanges } from './ports/bulk-changes.js'
import { checkFilter, type TaskFilterInput } from './task-filter.js'

/** Tasks changed per statement: short transactions, which a claim or a submission never waits long behind. */
export const BULK_CHUNK = 1_000

export type CancelMatching = (ownerKeyId: string, filter: TaskFilterInput) => Promise<number>

/** Cancels every unsent task of the owner that matches; safe to repeat, as the cancelled ones no longer match. */
export function makeCancelMatching(deps: { bulk: BulkChanges; now: () => Date; chunk?: number }): CancelMatching {
  const chunk = deps.chunk ?? BULK_CHUNK
  return async (ownerKeyId, input) => {
    const issues: FieldIssue[] = []
    const filter = checkFilter(input, issues, ['new', 'scheduled'])
    if (issues.length > 0) throw invalidRequest(issues)
    let total = 0
    for (;;) {
      const n = await deps.bulk.cancelMatching(ownerKeyId, filter, deps.now(), chunk)
      total += n
      if (n < chunk) return total
    }
  }
}
