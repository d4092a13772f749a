import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Logger, notReadyProblem, type Readiness, type Registry } from '@request-tasker/infrastructure'

export type HealthServer = { readonly url: string; close(): Promise<void> }

/**
 * The tasker serves no API, only its probes: GET /health/live (the process runs) and GET /health/ready (its
 * dependencies answer), with the same bodies as the server's routes of the same names; and GET /metrics, the
 * Prometheus text of `metrics` when given.
 */
export async function startHealthServer(options: {
  host: string
  port: number
  readiness: () => Promise<Readiness>
  log: Logger
  metrics?: Registry
}): Promise<HealthServer> {
  const { host, port, readiness, log, metrics } = options
  const server = createServer(async function probe(req, res) {
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && path === '/metrics' && metrics) {
      const text = await metrics.metrics().catch((err: unknown) => {
        log.error({ err }, 'metrics not collected')
        return null
      })
      if (text === null)
        return sendJson(res, 500, 'application/problem+json', {
          type: 'about:blank',
          title: 'Internal Server Error',
          status: 500,
        })
      res.writeHead(200, { 'content-type': metrics.contentType }).end(text)
      return
    }
    if (req.method !== 'GET' || (path !== '/health/live' && path !== '/health/ready')) {
      return sendJson(res, 404, 'application/problem+json', {
        type: '/problems/not-found',
        title: 'Not found',
        status: 404,
        detail: `no route for ${req.method} ${path}`,
      })
    }
    if (path === '/health/live') return sendJson(res, 200, 'application/json', { status: 'ok' })
    const result = await readiness().catch(
      (err: unknown): Readiness => ({
        status: 'failing',
        checks: {},
        failures: [{ check: 'readiness', message: String(err) }],
      }),
    )
    if (result.status === 'ok') return sendJson(res, 200, 'application/json', result)
    log.warn({ failures: result.failures }, 'not ready')
    res.setHeader('retry-after', '5')
    return sendJson(res, 503, 'application/problem+json', notReadyProblem(result))
  })
  server.listen(port, host)
  await once(server, 'listening')
  const address = server.address() as AddressInfo
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  log.info({ url }, 'health server listening')
  return {
    url,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function sendJson(res: ServerResponse, status: number, type: string, body: unknown) {
  const bytes = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': bytes.length }).end(bytes)
}
