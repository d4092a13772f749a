import { createHash } from 'node:crypto'
import type { Socket } from 'node:net'
import type { components } from '@request-tasker/contract'
import type { FastifyPluginAsync, RouteHandler } from 'fastify'
import type { ApiKey } from '../config.js'
import { requireApiKey } from '../http/auth.js'
import { filterBody, parseListQuery, parseOrRefuse, parseWait } from '../http/query.js'
import { parseSubmitTaskBody } from '../http/request-schema.js'
import { SubmissionCounter, type SubmissionLimit } from '../http/submission-limit.js'
import { traceOf } from '../http/trace.js'
import type { TaskUseCases } from '../use-cases.js'
import { submitBatchRoute } from './batch.js'
import { toLegacyTaskJson } from './legacy-status.js'
import { toTaskSummaryJson } from './task-summary.js'
import { toTaskViewJson } from './task-view.js'

/** The routes that submit one task each; the batch route counts its tasks itself. */
const SINGLE_SUBMISSIONS = new Set(['/tasks', '/task'])

type Schemas = components['schemas']

/** Called once per stored task, for the tasks-submitted metric; `via` names the route. */
export type OnSubmitted = (via: 'single' | 'batch' | 'legacy', count: number) => void

type SubmitRoute = { Body: unknown; Reply: { 200: Schemas['TaskCreated']; 201: Schemas['TaskCreated'] } }
type GetRoute = { Params: { id: string }; Reply: Schemas['Task'] }

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The original service's routes: their problems also carry `message` (see problem.ts). */
    legacy?: boolean
  }
}

/** Encapsulated on purpose (no fastify-plugin): the API-key hook guards these routes and nothing else. */
export const taskRoutes: FastifyPluginAsync<{
  useCases: TaskUseCases
  apiKeys: readonly ApiKey[]
  submissionLimit?: SubmissionLimit
  batchBodyLimit?: number
  onSubmitted?: OnSubmitted
}> = async (app, { useCases, apiKeys, submissionLimit, batchBodyLimit, onSubmitted = () => {} }) => {
  app.decorateRequest('apiKeyId', '')
  app.addHook('onRequest', requireApiKey(apiKeys))
  // After the key check: an unknown key gets 401 and is never counted. A single submission counts before its body
  // is read; a batch counts its tasks once its envelope is read (batch.ts).
  const counter = submissionLimit && new SubmissionCounter(submissionLimit)
  const countSubmissions = (apiKeyId: string, n: number) => counter?.take(apiKeyId, n)
  if (counter) {
    app.addHook('onRequest', async (req) => {
      if (req.method === 'POST' && SINGLE_SUBMISSIONS.has(req.routeOptions.url ?? '')) counter.take(req.apiKeyId, 1)
    })
  }

  const submit: RouteHandler<SubmitRoute> = async function submitTask(req, reply) {
    const traceparent = traceOf(req)
    const cmd = { ownerKeyId: req.apiKeyId, ...parseSubmitTaskBody(req.body), traceparent }
    const via = req.routeOptions.config.legacy ? 'legacy' : 'single'
    const idempotencyKey = req.headers['idempotency-key']
    if (idempotencyKey === undefined) {
      const id = await useCases.submitTask(cmd)
      onSubmitted(via, 1)
      req.log.debug({ taskId: id, traceparent }, 'task submitted') // one a task: info would double the server's log volume
      return reply.header('location', `/tasks/${id}`).code(201).send({ id })
    }
    // The body as parsed, so whitespace and encoding do not matter; a repeated header arrives as an array.
    const bodyHash = createHash('sha256').update(JSON.stringify(req.body)).digest('hex')
    const key = Array.isArray(idempotencyKey) ? idempotencyKey.join(', ') : idempotencyKey
    const { id, created } = await useCases.submitTaskOnce({ ...cmd, idempotencyKey: key, bodyHash })
    if (created) {
      onSubmitted(via, 1)
      req.log.debug({ taskId: id, created, traceparent }, 'task submitted')
    } else req.log.info({ taskId: id, created, traceparent }, 'task submission repeated')
    return reply
      .header('location', `/tasks/${id}`)
      .code(created ? 201 : 200)
      .send({ id })
  }

  const get: RouteHandler<GetRoute & { Querystring: unknown }> = async function getTask(req) {
    const waitMs = parseWait(req.query) * 1000
    if (waitMs === 0) return toTaskViewJson(await useCases.getTask(req.params.id, req.apiKeyId))
    // A client that goes away stops its wait: its watch is released at once, not at the deadline.
    const gone = new AbortController()
    req.raw.once('close', () => gone.abort())
    // The socket is silent while the request waits: Node's idle timeout (CONNECTION_TIMEOUT_MS) must not cut it,
    // and is given back before the answer, so the keep-alive timeout takes over as for any other request.
    const socket = req.raw.socket as Partial<Pick<Socket, 'setTimeout'>>
    socket.setTimeout?.(waitMs + 10_000)
    try {
      return toTaskViewJson(await useCases.awaitTask(req.params.id, req.apiKeyId, waitMs, gone.signal))
    } finally {
      socket.setTimeout?.(req.server.server.timeout)
    }
  }

  const getLegacy: RouteHandler<GetRoute> = async function getTaskLegacy(req) {
    return toLegacyTaskJson(toTaskViewJson(await useCases.getTask(req.params.id, req.apiKeyId)))
  }

  const list: RouteHandler<{ Querystring: unknown; Reply: Schemas['TaskPage'] }> = async function listTasks(req) {
    const page = await useCases.listTasks(req.apiKeyId, parseListQuery(req.query))
    return { items: page.items.map(toTaskSummaryJson), nextCursor: page.nextCursor }
  }

  const retry: RouteHandler<GetRoute> = async function retryTask(req) {
    const view = await useCases.redriveTask(req.params.id, req.apiKeyId)
    req.log.info({ taskId: view.task.id, traceparent: view.task.traceparent }, 'task redriven')
    return toTaskViewJson(view)
  }

  const cancel: RouteHandler<GetRoute> = async function cancelTask(req) {
    const view = await useCases.cancelTask(req.params.id, req.apiKeyId)
    req.log.info({ taskId: view.task.id, traceparent: view.task.traceparent }, 'task cancelled')
    return toTaskViewJson(view)
  }

  const cancelMatching: RouteHandler<{ Body: unknown; Reply: Schemas['CancelledCount'] }> = async function cancelTasks(
    req,
  ) {
    const filter = parseOrRefuse(filterBody, req.body)
    const cancelled = await useCases.cancelMatching(req.apiKeyId, filter)
    req.log.info({ filter, cancelled }, 'tasks cancelled')
    return { cancelled }
  }

  const redriveMatching: RouteHandler<{ Body: unknown; Reply: Schemas['RetriedCount'] }> = async function retryTasks(
    req,
  ) {
    const filter = parseOrRefuse(filterBody, req.body)
    const retried = await useCases.redriveMatching(req.apiKeyId, filter)
    req.log.info({ filter, retried }, 'tasks redriven')
    return { retried }
  }

  app.get('/tasks', list)
  app.post<SubmitRoute>('/tasks', submit)
  app.post(
    '/tasks/batch',
    { ...(batchBodyLimit && { bodyLimit: batchBodyLimit }) },
    submitBatchRoute(useCases.submitBatch, onSubmitted, countSubmissions),
  )
  app.post('/tasks/cancel', cancelMatching)
  app.post('/tasks/retry', redriveMatching)
  app.get<GetRoute & { Querystring: unknown }>('/tasks/:id', get)
  // New routes only: the original service had no such thing.
  app.post<GetRoute>('/tasks/:id/retry', retry)
  app.post<GetRoute>('/tasks/:id/cancel', cancel)
  // The original service's routes, on the same handlers so the two cannot drift (deprecated in openapi.yaml).
  app.post<SubmitRoute>('/task', { config: { legacy: true } }, submit)
  app.get<GetRoute>('/task/:id', { config: { legacy: true } }, getLegacy)
}
