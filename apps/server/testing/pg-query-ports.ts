import { ManualEndings } from '@request-tasker/application/testing'
import type { Queryable } from '@request-tasker/infrastructure'
import { pgBatchStore, pgBulkChanges, pgTaskList, pgTaskViews } from '@request-tasker/infrastructure'

/**
 * The list, bulk and batch ports over Postgres, for integration tests that build the server's use cases by hand.
 * Long-polls there end only at `endings.timeOut()`; a test of waiting wires pgTaskEndings instead.
 */
export function pgQueryPorts(pool: Queryable) {
  return {
    list: pgTaskList(pool),
    bulk: pgBulkChanges(pool),
    batches: pgBatchStore(pool),
    views: pgTaskViews(pool),
    endings: new ManualEndings(),
  }
}
