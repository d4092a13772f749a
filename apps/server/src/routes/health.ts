import type { components } from '@request-tasker/contract'
import type { Readiness } from '@request-tasker/infrastructure'
import type { FastifyPluginAsync } from 'fastify'
import { NotReady } from '../http/not-ready.js'
import { cachedProbe } from './cached-probe.js'

type Health = components['schemas']['Health']
type Ready = components['schemas']['Readiness']

/** Asks every dependency the server needs; see buildServer's caller for which. */
export type ReadinessProbe = () => Promise<Readiness>

/**
 * Outside the API-key plugin: probes carry no key. The readiness result is shared for `readinessCacheMs` (see
 * cachedProbe), so a flood of probes neither loads the database nor queues in front of the submissions.
 */
export const healthRoutes: FastifyPluginAsync<{ readiness: ReadinessProbe; readinessCacheMs: number }> = async (
  app,
  options,
) => {
  const readiness = cachedProbe(options.readiness, options.readinessCacheMs)

  app.get('/health/live', async function live(): Promise<Health> {
    return { status: 'ok' }
  })

  app.get('/health/ready', async function ready(req): Promise<Ready> {
    const result = await readiness()
    if (result.status === 'ok') return result
    req.log.warn({ failures: result.failures }, 'not ready')
    throw new NotReady(result)
  })
}
