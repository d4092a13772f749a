import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger, Registry } from '@request-tasker/infrastructure'

export type MetricsServer = { readonly url: string; close(): Promise<void> }

/** GET /metrics in Prometheus's text format on its own listener; anything else 404. No key: bind it privately. */
export async function startMetricsServer(options: {
  host: string
  port: number
  registry: Registry
  log: Logger
}): Promise<MetricsServer> {
  const { host, port, registry, log } = options
  const server = createServer(async function serveMetrics(req, res) {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only GET /metrics here\n')
      return
    }
    try {
      const text = await registry.metrics()
      res.writeHead(200, { 'content-type': registry.contentType }).end(text)
    } catch (err) {
      log.error({ err }, 'metrics not collected')
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics not collected\n')
    }
  })
  server.listen(port, host)
  await once(server, 'listening')
  const address = server.address() as AddressInfo
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
  log.info({ url: `${url}/metrics` }, 'metrics listening')
  return {
    url,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
