import type { FastifyPluginAsync } from 'fastify'
import type { components } from '../generated/openapi.js'

type Health = components['schemas']['Health']

/** Outside the API-key plugin: probes carry no key. Liveness only; readiness will check the pool. */
export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get('/health/live', async function live(): Promise<Health> {
    return { status: 'ok' }
  })
}
