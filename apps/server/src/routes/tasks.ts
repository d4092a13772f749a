import { createHash } from 'node:crypto'
import type { FastifyPluginAsync, RouteHandler } from 'fastify'
import type { ApiKey } from '../config.js'
import type { components } from '../generated/openapi.js'
import { requireApiKey } from '../http/auth.js'
import { parseSubmitTaskBody } from '../http/request-schema.js'
import { limitSubmissions, type SubmissionLimit } from '../http/submission-limit.js'
import type { TaskUseCases } from '../use-cases.js'
import { toTaskViewJson } from './task-view.js'

type Schemas = components['schemas']

type SubmitRoute = { Body: unknown; Reply: { 200: Schemas['TaskCreated']; 201: Schemas['TaskCreated'] } }
type GetRoute = { Params: { id: string }; Reply: Schemas['Task'] }

/** Encapsulated on purpose (no fastify-plugin): the API-key hook guards these routes and nothing else. */
export const taskRoutes: FastifyPluginAsync<{
  useCases: TaskUseCases
  apiKeys: readonly ApiKey[]
  submissionLimit?: SubmissionLimit
}> = async (app, { useCases, apiKeys, submissionLimit }) => {
  app.decorateRequest('apiKeyId', '')
  app.addHook('onRequest', requireApiKey(apiKeys))
  // After the key check: an unknown key gets 401 and is never counted.
  if (submissionLimit) await limitSubmissions(app, submissionLimit, ['/tasks', '/task'])

  const submit: RouteHandler<SubmitRoute> = async function submitTask(req, reply) {
    const cmd = { ownerKeyId: req.apiKeyId, ...parseSubmitTaskBody(req.body) }
    const idempotencyKey = req.headers['idempotency-key']
    if (idempotencyKey === undefined) {
      const id = await useCases.submitTask(cmd)
      req.log.info({ taskId: id }, 'task submitted')
      return reply.header('location', `/tasks/${id}`).code(201).send({ id })
    }
    // The body as parsed, so whitespace and encoding do not matter; a repeated header arrives as an array.
    const bodyHash = createHash('sha256').update(JSON.stringify(req.body)).digest('hex')
    const key = Array.isArray(idempotencyKey) ? idempotencyKey.join(', ') : idempotencyKey
    const { id, created } = await useCases.submitTaskOnce({ ...cmd, idempotencyKey: key, bodyHash })
    req.log.info({ taskId: id, created }, created ? 'task submitted' : 'task submission repeated')
    return reply
      .header('location', `/tasks/${id}`)
      .code(created ? 201 : 200)
      .send({ id })
  }

  const get: RouteHandler<GetRoute> = async function getTask(req) {
    return toTaskViewJson(await useCases.getTask(req.params.id, req.apiKeyId))
  }

  const retry: RouteHandler<GetRoute> = async function retryTask(req) {
    const view = await useCases.redriveTask(req.params.id, req.apiKeyId)
    req.log.info({ taskId: view.task.id }, 'task redriven')
    return toTaskViewJson(view)
  }

  const cancel: RouteHandler<GetRoute> = async function cancelTask(req) {
    const view = await useCases.cancelTask(req.params.id, req.apiKeyId)
    req.log.info({ taskId: view.task.id }, 'task cancelled')
    return toTaskViewJson(view)
  }

  app.post<SubmitRoute>('/tasks', submit)
  app.get<GetRoute>('/tasks/:id', get)
  // New routes only: the original service had no such thing.
  app.post<GetRoute>('/tasks/:id/retry', retry)
  app.post<GetRoute>('/tasks/:id/cancel', cancel)
  // The original service's routes, on the same handlers so the two cannot drift (deprecated in openapi.yaml).
  app.post<SubmitRoute>('/task', submit)
  app.get<GetRoute>('/task/:id', get)
}
