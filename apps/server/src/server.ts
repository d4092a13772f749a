import { randomUUID } from 'node:crypto'
import type { FlowControlUseCases, SigningSecretUseCases } from '@request-tasker/application'
import type { Registry } from '@request-tasker/infrastructure'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawRequestDefaultExpression,
} from 'fastify'
import type { ApiKey } from './config.js'
import { docsRoutes } from './http/docs.js'
import { boundRequestBytesInFlight } from './http/inflight-bytes.js'
import { type Shedding, shedUnderPressure } from './http/load-shedding.js'
import { answerOtherMethods } from './http/method-not-allowed.js'
import { serverMetrics } from './http/metrics.js'
import { replyNotFound, replyWithProblem } from './http/problem.js'
import type { SubmissionLimit } from './http/submission-limit.js'
import { flowControlRoutes } from './routes/flow-controls.js'
import { healthRoutes, type ReadinessProbe } from './routes/health.js'
import { signingSecretRoutes } from './routes/signing-secrets.js'
import { taskRoutes } from './routes/tasks.js'
import { CHECK_TIMEOUTS_EVERY_MS, DEFAULT_TIMEOUTS, type ServerTimeouts } from './server-timeouts.js'
import type { TaskUseCases } from './use-cases.js'

export type ServerDeps = {
  useCases: TaskUseCases
  /** Absent: no flow-control routes. */
  flowControls?: FlowControlUseCases
  /** Absent: no /signing-secrets routes. */
  signingSecrets?: SigningSecretUseCases
  apiKeys: readonly ApiKey[]
  bodyLimit: number
  logger: FastifyBaseLogger
  readiness: ReadinessProbe
  /** How long one readiness result answers every probe; 1 s when absent. */
  readinessCacheMs?: number
  /** Absent: no request is shed. */
  shedding?: Shedding
  timeouts?: ServerTimeouts
  /** Absent: submissions are not counted. */
  submissionLimit?: SubmissionLimit
  /** Request body bytes held at once (see boundRequestBytesInFlight); 32 MiB when absent. */
  maxInflightRequestBytes?: number
  /** Largest body of POST /tasks/batch; 16 MiB when absent. */
  batchBodyLimit?: number
  /** Where the server's series go (see http/metrics.ts); absent: none are kept. */
  metrics?: { registry: Registry; waiters: () => number }
}

/** The HTTP app, ready for `inject` or `listen`; it never listens by itself. */
export function buildServer({
  useCases,
  flowControls,
  signingSecrets,
  apiKeys,
  bodyLimit,
  logger,
  readiness,
  readinessCacheMs = 1_000,
  shedding,
  timeouts = DEFAULT_TIMEOUTS,
  submissionLimit,
  maxInflightRequestBytes = 32 * 1024 * 1024,
  batchBodyLimit = 16 * 1024 * 1024,
  metrics,
}: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit,
    // A flow-control key (up to 255 characters, an origin among them) is a path parameter, percent-encoded.
    maxParamLength: 1024,
    // Node's defaults (no request timeout, Fastify's 72 s keep-alive) let a client that trickles or stalls hold a
    // socket for good; these cut each one off, with 408 when a request was started.
    requestTimeout: timeouts.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    connectionTimeout: timeouts.connectionTimeoutMs,
    http: { headersTimeout: timeouts.headersTimeoutMs, connectionsCheckingInterval: CHECK_TIMEOUTS_EVERY_MS },
    genReqId: requestIdOf,
    logController: new QuietWhenFine(),
    // The router's own refusals (a malformed URL, a path parameter past its length) get problem+json too.
    frameworkErrors: replyWithProblem,
  })
  const otherMethods = answerOtherMethods(app)

  // JSON is the only body we read; Fastify's default text/plain parser would let any string reach the schema.
  app.removeContentTypeParser('text/plain')
  app.setErrorHandler(replyWithProblem)
  app.setNotFoundHandler(replyNotFound)
  app.addHook('onRequest', async function echoRequestId(req, reply) {
    reply.header('x-request-id', req.id)
  })
  boundRequestBytesInFlight(app, { maxBytes: maxInflightRequestBytes, bodyLimit })
  if (shedding) shedUnderPressure(app, shedding)
  const counted = metrics && serverMetrics(app, metrics.registry, metrics.waiters)

  app.register(healthRoutes, { readiness, readinessCacheMs })
  app.register(docsRoutes)
  app.register(taskRoutes, {
    useCases,
    apiKeys,
    batchBodyLimit,
    ...(submissionLimit && { submissionLimit }),
    ...(counted && { onSubmitted: counted.submitted }),
  })
  if (flowControls) app.register(flowControlRoutes, { useCases: flowControls, apiKeys })
  if (signingSecrets) app.register(signingSecretRoutes, { useCases: signingSecrets, apiKeys })
  // Last: it answers 405 for the methods each path above does not serve.
  app.register(otherMethods)
  return app
}

// Fastify logs 'incoming request' and 'request completed' for every call. A request that went well is logged at
// debug only, and once (the completed line carries all the incoming one did): at full load a line per request is
// CPU spent on what nobody reads. A 4xx or 5xx, or a request that failed mid-reply, is still logged at info (error
// when it errored), under its request id.
class QuietWhenFine extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error || reply.statusCode >= 400) super.requestCompleted(error, request, reply)
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

// A caller's id ties our logs to theirs; anything odd-looking is replaced, since it lands in every log line.
const SAFE_REQUEST_ID = /^[\w.-]{1,128}$/
function requestIdOf(req: RawRequestDefaultExpression): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
}
