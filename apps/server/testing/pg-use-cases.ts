import { ManualEndings, retryDefaults } from '@request-tasker/application/testing'
import {
  pgBatchStore,
  pgBulkChanges,
  pgIdempotencyKeys,
  pgTaskList,
  pgTaskRepository,
  pgTaskViews,
  uuidV7Ids,
} from '@request-tasker/infrastructure'
import type pg from 'pg'
import { makeTaskUseCases } from '../src/use-cases.js'
import { guardedTargets } from './test-server.js'

type Deps = Parameters<typeof makeTaskUseCases>[0]

/**
 * The server's use cases over Postgres, for integration tests that build the server by hand: production's stores,
 * the guarded target policy, the wall clock and the usual defaults, any of which `overrides` replaces. Long-polls
 * end only at `endings.timeOut()`; a test of waiting wires pgTaskEndings instead.
 */
export function pgTaskUseCases(pool: pg.Pool, overrides: Partial<Deps> = {}) {
  return makeTaskUseCases({
    tasks: pgTaskRepository(pool),
    keys: pgIdempotencyKeys(pool),
    list: pgTaskList(pool),
    bulk: pgBulkChanges(pool),
    batches: pgBatchStore(pool),
    views: pgTaskViews(pool),
    endings: new ManualEndings(),
    targets: guardedTargets,
    wakeRelay: () => {},
    newId: uuidV7Ids(),
    now: () => new Date(),
    defaultTimeoutMs: 10_000,
    defaultRetry: retryDefaults,
    idempotencyWindowMs: 60_000,
    ...overrides,
  })
}
