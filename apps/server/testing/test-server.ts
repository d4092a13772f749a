import { makeFlowControlUseCases, makeTaskExecutor, SendCapacity } from '@request-tasker/application'
import {
  InMemoryStore,
  ManualEndings,
  manualClock,
  retryDefaults,
  roomyFlow,
  ScriptedSender,
  sequentialIds,
} from '@request-tasker/application/testing'
import type { SendOutcome, TaskId } from '@request-tasker/domain'
import { EMPTY_ALLOWLIST, type Readiness, type Registry, targetPolicy } from '@request-tasker/infrastructure'
import type { FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import type { ApiKey } from '../src/config.js'
import type { Shedding } from '../src/http/load-shedding.js'
import type { SubmissionLimit } from '../src/http/submission-limit.js'
import { buildServer } from '../src/server.js'
import type { ServerTimeouts } from '../src/server-timeouts.js'
import { makeTaskUseCases } from '../src/use-cases.js'

export const ALICE: ApiKey = { id: 'alice', key: 'alice-secret-key' }
export const BOB: ApiKey = { id: 'bob', key: 'bob-secret-key' }
export const IDEMPOTENCY_WINDOW_MS = 60_000

/** The production default: only public unicast targets. */
export const guardedTargets = targetPolicy({ guard: true, allowlist: EMPTY_ALLOWLIST })

/**
 * The server over real use cases, the real target policy (guard on) and an in-memory store: what a route test
 * sees is what Postgres would hold.
 */
export function testServer(
  options: {
    apiKeys?: readonly ApiKey[]
    bodyLimit?: number
    logger?: FastifyBaseLogger
    readiness?: () => Promise<Readiness>
    shedding?: Shedding
    timeouts?: ServerTimeouts
    submissionLimit?: SubmissionLimit
    maxInflightRequestBytes?: number
    batchBodyLimit?: number
    metrics?: { registry: Registry; waiters: () => number }
  } = {},
) {
  const clock = manualClock()
  const store = new InMemoryStore(clock.now)
  // A long-poll wakes when the store ends its task, or when the test calls endings.timeOut().
  const endings = new ManualEndings(clock)
  store.onEnded = (id) => endings.ended(id)
  const useCases = makeTaskUseCases({
    tasks: store,
    flowControls: store,
    keys: store,
    list: store,
    bulk: store,
    batches: store,
    views: store,
    endings,
    targets: guardedTargets,
    wakeRelay: () => {},
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 10_000,
    defaultRetry: retryDefaults,
    idempotencyWindowMs: IDEMPOTENCY_WINDOW_MS,
  })
  const app = buildServer({
    useCases,
    flowControls: makeFlowControlUseCases({ flowControls: store }),
    apiKeys: options.apiKeys ?? [ALICE, BOB],
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    logger: options.logger ?? pino({ level: 'silent' }),
    readiness: options.readiness ?? (async () => ({ status: 'ok', checks: { database: 'ok', migrations: 'ok' } })),
    ...(options.shedding && { shedding: options.shedding }),
    ...(options.timeouts && { timeouts: options.timeouts }),
    ...(options.submissionLimit && { submissionLimit: options.submissionLimit }),
    ...(options.maxInflightRequestBytes && { maxInflightRequestBytes: options.maxInflightRequestBytes }),
    ...(options.batchBodyLimit && { batchBodyLimit: options.batchBodyLimit }),
    ...(options.metrics && { metrics: options.metrics }),
  })
  return { app, store, clock, endings }
}

/** Runs a task through the real task executor (after `afterMs` on the server's clock), the target answering `outcome`. */
export async function sendWith(
  { store, clock }: ReturnType<typeof testServer>,
  id: string,
  outcome: SendOutcome,
  afterMs = 0,
) {
  const executor = makeTaskExecutor({
    tasks: store,
    sender: new ScriptedSender(() => outcome),
    capacity: new SendCapacity({ slots: 10, slotsPerKey: 10, unstored: 10, unstoredBytes: 1 << 20 }),
    now: clock.now,
    random: () => 0.5,
    leaseGraceMs: 1000,
    keyBusyWaitMs: 1000,
    flow: roomyFlow,
    isUnavailable: () => false,
    warn: () => {},
  })
  clock.advance(afterMs)
  await Promise.all(await executor.execute([id as TaskId]))
}
