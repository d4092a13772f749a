import { type FieldIssue, invalidRequest } from '@request-tasker/domain'
import { BULK_CHUNK } from './cancel-matching.js'
import type { BulkChanges } from './ports/bulk-changes.js'
import { checkFilter, type TaskFilterInput } from './task-filter.js'

export type RedriveMatching = (ownerKeyId: string, filter: TaskFilterInput) => Promise<number>

/** Sends again every task of the owner in `error` that matches; safe to repeat, as redriven ones are `new`. */
export function makeRedriveMatching(deps: {
  bulk: BulkChanges
  now: () => Date
  wakeRelay: () => void
  chunk?: number
}): RedriveMatching {
  const chunk = deps.chunk ?? BULK_CHUNK
  return async (ownerKeyId, input) => {
    const issues: FieldIssue[] = []
    const filter = checkFilter(input, issues, ['error'])
    if (issues.length > 0) throw invalidRequest(issues)
    let total = 0
    for (;;) {
      const n = await deps.bulk.redriveMatching(ownerKeyId, filter, deps.now(), chunk)
      total += n
      if (n > 0) deps.wakeRelay()
      if (n < chunk) return total
    }
  }
}
