import { createHash } from 'node:crypto'
import type { BatchItem, SubmitBatch } from '@request-tasker/application'
import { MAX_BATCH_ITEMS } from '@request-tasker/application'
import type { components } from '@request-tasker/contract'
import { childSpan, DomainError, startTrace } from '@request-tasker/domain'
import type { RouteHandler } from 'fastify'
import { z } from 'zod'
import { problemOf } from '../http/problem.js'
import { parseOrRefuse } from '../http/query.js'
import { parseSubmitTaskBody } from '../http/request-schema.js'
import { givenTraceparent, randomHex } from '../http/trace.js'
import type { OnSubmitted } from './tasks.js'

type Schemas = components['schemas']

// Only the envelope is checked here; each item is checked on its own, so one bad item refuses only itself.
const batchBody = z.object(
  {
    tasks: z
      .array(z.unknown(), { error: 'must be an array of tasks' })
      .min(1, 'must hold at least one task')
      .max(MAX_BATCH_ITEMS, `must hold at most ${MAX_BATCH_ITEMS} tasks`),
  },
  { error: 'must be a JSON object with a `tasks` array' },
)

/** POST /tasks/batch: every item's outcome in order, the valid ones stored by one statement. */
export function submitBatchRoute(
  submitBatch: SubmitBatch,
  onSubmitted: OnSubmitted,
  countSubmissions: (apiKeyId: string, n: number) => void,
): RouteHandler<{ Body: unknown; Reply: Schemas['BatchResult'] }> {
  return async function submitTaskBatch(req) {
    const { tasks } = parseOrRefuse(batchBody, req.body)
    // Every task of the batch counts toward its key's submissions, the refused ones too, before any is stored.
    countSubmissions(req.apiKeyId, tasks.length)
    const parent = givenTraceparent(req)
    const items = tasks.map((raw): BatchItem => {
      try {
        const { idempotencyKey, ...body } = (raw ?? {}) as { idempotencyKey?: unknown }
        if (idempotencyKey != null && typeof idempotencyKey !== 'string') {
          throw new DomainError('invalid-request', 'The request is invalid', [
            { path: 'idempotencyKey', message: 'must be a string' },
          ])
        }
        // The same fields as a single submission (flow control, callbacks, signing, deadline, secret headers).
        const submission = parseSubmitTaskBody(raw)
        // Each task a span of its own: under the caller's when it sent one, else a trace of its own.
        const traceparent = parent ? childSpan(parent, randomHex) : startTrace(randomHex)
        return {
          cmd: { ownerKeyId: req.apiKeyId, ...submission, traceparent },
          ...(idempotencyKey != null && { idempotencyKey }),
          // As a single submission hashes its body, so one key names the same task either way.
          bodyHash: createHash('sha256').update(JSON.stringify(body)).digest('hex'),
        }
      } catch (err) {
        if (err instanceof DomainError) return { refused: err }
        throw err
      }
    })
    const outcomes = await submitBatch(items)
    const results = outcomes.map((o): Schemas['BatchItemResult'] =>
      'id' in o ? { status: o.status, id: o.id } : { status: o.status, problem: problemOf(o.error) },
    )
    const count = (status: number) => outcomes.filter((o) => o.status === status).length
    const created = count(201)
    onSubmitted('batch', created)
    req.log.info(
      { items: items.length, created, taskIds: outcomes.flatMap((o) => ('id' in o ? [o.id] : [])) },
      'batch submitted',
    )
    return { results, created, repeated: count(200), refused: outcomes.length - created - count(200) }
  }
}
