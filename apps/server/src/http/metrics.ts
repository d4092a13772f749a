import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

// Latency buckets from a millisecond to a minute: submissions take milliseconds, long-polls up to 60 s.
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export type ServerMetrics = {
  /** Counts tasks stored, by route (`single`, `batch`, `legacy`). */
  submitted(via: 'single' | 'batch' | 'legacy', count: number): void
}

/**
 * The server's own series: `http_requests_total` and `http_request_duration_seconds` by method, route pattern
 * (`/tasks/:id`, never the id; `unmatched` for a 404) and status; `tasks_submitted_total` by route; and
 * `task_waiters`, the long-polls waiting now.
 */
export function serverMetrics(app: FastifyInstance, registry: Registry, waiters: () => number): ServerMetrics {
  const labelNames = ['method', 'route', 'status_code'] as const
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered',
    labelNames,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from a request to its answer',
    labelNames,
    buckets: SECONDS,
    registers: [registry],
  })
  const submitted = new Counter({
    name: 'tasks_submitted_total',
    help: 'Tasks stored by a submission, by route',
    labelNames: ['via'],
    registers: [registry],
  })
  new Gauge({
    name: 'task_waiters',
    help: 'Requests waiting on GET /tasks/{id}?wait=N now',
    registers: [registry],
    collect() {
      this.set(waiters())
    },
  })
  app.addHook('onResponse', async function countRequest(req, reply) {
    const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: reply.statusCode }
    requests.inc(labels)
    duration.observe(labels, reply.elapsedTime / 1000)
  })
  return { submitted: (via, count) => submitted.inc({ via }, count) }
}
