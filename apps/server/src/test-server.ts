import {
  makeCancelTask,
  makeGetTask,
  makeRedriveTask,
  makeSubmitTask,
  makeSubmitTaskOnce,
} from '@request-tasker/application'
import { InMemoryStore, manualClock, retryDefaults, sequentialIds } from '@request-tasker/application/testing'
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import type { ApiKey } from './config.js'
import { buildServer } from './server.js'

export const ALICE: ApiKey = { id: 'alice', key: 'alice-secret-key' }
export const BOB: ApiKey = { id: 'bob', key: 'bob-secret-key' }
export const IDEMPOTENCY_WINDOW_MS = 60_000

/** The server over real use cases and an in-memory store: what a route test sees is what Postgres would hold. */
export function testServer(
  options: { apiKeys?: readonly ApiKey[]; bodyLimit?: number; logger?: FastifyBaseLogger } = {},
) {
  const store = new InMemoryStore()
  const clock = manualClock()
  const submitDeps = {
    tasks: store,
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 10_000,
    defaultRetry: retryDefaults,
  }
  const useCases = {
    submitTask: makeSubmitTask(submitDeps),
    submitTaskOnce: makeSubmitTaskOnce({ ...submitDeps, idempotencyWindowMs: IDEMPOTENCY_WINDOW_MS }),
    getTask: makeGetTask({ tasks: store }),
    redriveTask: makeRedriveTask({ tasks: store, now: clock.now }),
    cancelTask: makeCancelTask({ tasks: store, now: clock.now }),
  }
  const app = buildServer({
    useCases,
    apiKeys: options.apiKeys ?? [ALICE, BOB],
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    logger: options.logger ?? pino({ level: 'silent' }),
  })
  return { app, store, clock }
}
