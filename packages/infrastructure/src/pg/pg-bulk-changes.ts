import type { BulkChanges } from '@request-tasker/application'
import { cancelMatching } from './cancel-matching.js'
import type { Queryable } from './pool.js'
import { redriveMatching } from './redrive-matching.js'

export function pgBulkChanges(db: Queryable): BulkChanges {
  return {
    cancelMatching: (...args) => cancelMatching(db, ...args),
    redriveMatching: (...args) => redriveMatching(db, ...args),
  }
}
