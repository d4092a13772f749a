import type { FlowControlUseCases, FlowControlView } from '@request-tasker/application'
import type { components } from '@request-tasker/contract'
import { invalidRequest } from '@request-tasker/domain'
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import type { ApiKey } from '../config.js'
import { requireApiKey } from '../http/auth.js'

type Schemas = components['schemas']
type KeyRoute = { Params: { key: string } }

// Numbers only: their ranges are the domain's rule (createFlowLimits), checked once there for every caller.
const limitsBody = z.object(
  {
    rate: z.number().nullish(),
    periodMs: z.number().nullish(),
    burst: z.number().nullish(),
    parallelism: z.number().nullish(),
  },
  { error: 'must be a JSON object' },
)

/** The owner's flow-control keys (see FlowControls); encapsulated, so its API-key hook guards only these routes. */
export const flowControlRoutes: FastifyPluginAsync<{
  useCases: FlowControlUseCases
  apiKeys: readonly ApiKey[]
}> = async (app, { useCases, apiKeys }) => {
  app.decorateRequest('apiKeyId', '')
  app.addHook('onRequest', requireApiKey(apiKeys))

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/flow-controls', async function listFlowControls(req) {
    const page = await useCases.listFlowControls(req.apiKeyId, {
      after: req.query.cursor === undefined ? null : keyOfCursor(req.query.cursor),
      ...(req.query.limit !== undefined && { limit: Number(req.query.limit) }),
    })
    const body: Schemas['FlowControlPage'] = { items: page.items.map(flowControlJson) }
    return page.next === null ? body : { ...body, next: cursorOf(page.next) }
  })
  app.get<KeyRoute>('/flow-controls/:key', async function getFlowControl(req) {
    return flowControlJson(await useCases.getFlowControl(req.apiKeyId, req.params.key))
  })
  app.put<KeyRoute & { Body: unknown }>('/flow-controls/:key', async function putFlowControl(req) {
    const parsed = limitsBody.safeParse(req.body)
    if (!parsed.success) {
      throw invalidRequest(parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })))
    }
    const view = await useCases.putFlowControl(req.apiKeyId, req.params.key, parsed.data)
    req.log.info({ flowKey: view.key, limits: view.limits }, 'flow-control key set')
    return flowControlJson(view)
  })
  app.delete<KeyRoute>('/flow-controls/:key', async function deleteFlowControl(req, reply) {
    await useCases.deleteFlowControl(req.apiKeyId, req.params.key)
    req.log.info({ flowKey: req.params.key }, 'flow-control key forgotten')
    return reply.code(204).send()
  })
  app.post<KeyRoute>('/flow-controls/:key/pause', async function pauseFlowControl(req) {
    const view = await useCases.pauseFlowControl(req.apiKeyId, req.params.key)
    req.log.info({ flowKey: view.key }, 'flow-control key paused')
    return flowControlJson(view)
  })
  app.post<KeyRoute>('/flow-controls/:key/resume', async function resumeFlowControl(req) {
    const view = await useCases.resumeFlowControl(req.apiKeyId, req.params.key)
    req.log.info({ flowKey: view.key }, 'flow-control key resumed')
    return flowControlJson(view)
  })
}

/** Built field by field, so nothing stored reaches a client unless listed here. */
export function flowControlJson(view: FlowControlView): Schemas['FlowControl'] {
  const { circuit, lastMinute } = view
  return {
    key: view.key,
    limits: view.limits,
    paused: view.paused,
    circuit: {
      state: circuit.state,
      failures: circuit.failures,
      ...(circuit.until !== null && { until: circuit.until.toISOString() }),
    },
    inFlight: view.inFlight,
    waiting: view.waiting,
    lastMinute: { ...lastMinute, since: lastMinute.since.toISOString() },
    ...(view.adaptiveRate !== null && { adaptiveRate: Math.round(view.adaptiveRate * 100) / 100 }),
    ...(view.blockedUntil !== null && { blockedUntil: view.blockedUntil.toISOString() }),
    ...(view.configuredAt !== null && { configuredAt: view.configuredAt.toISOString() }),
  }
}

// Opaque to clients: the last key of a page, base64url, so a key's own characters never need escaping in a query.
const cursorOf = (key: string) => Buffer.from(key, 'utf8').toString('base64url')

function keyOfCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8')
  if (key.length === 0 || cursorOf(key) !== cursor) {
    throw invalidRequest([{ path: 'cursor', message: 'is not a cursor this API gave' }])
  }
  return key
}
