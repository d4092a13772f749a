import { STATUS_CODES } from 'node:http'
import type { components } from '@request-tasker/contract'
import { DomainError, type DomainErrorCode } from '@request-tasker/domain'
import { isDatabaseUnavailable, notReadyProblem } from '@request-tasker/infrastructure'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { ApiKeyRejected } from './auth.js'
import { Overloaded } from './load-shedding.js'
import { MethodNotAllowed } from './method-not-allowed.js'
import { NotReady } from './not-ready.js'
import { TooManySubmissions } from './submission-limit.js'

// How long a client should wait before retrying a 503; the cause is usually gone within seconds.
const RETRY_AFTER_SECONDS = '5'

export type Problem = components['schemas']['Problem']

// A new DomainErrorCode without a status here fails the build.
const domainProblems: Record<DomainErrorCode, { status: number; title: string }> = {
  'invalid-request': { status: 400, title: 'Invalid request' },
  'task-not-found': { status: 404, title: 'Task not found' },
  'illegal-transition': { status: 409, title: 'Illegal transition' },
  'task-not-retryable': { status: 409, title: 'Task not retryable' },
  'task-not-cancellable': { status: 409, title: 'Task not cancellable' },
  'idempotency-key-reused': { status: 409, title: 'Idempotency key reused' },
  'flow-control-not-found': { status: 404, title: 'Flow-control key not found' },
  'signing-secret-not-found': { status: 404, title: 'Signing secret not found' },
  'too-many-signing-secrets': { status: 409, title: 'Too many signing secrets' },
}

// Fastify's own refusals that clients meet often enough to deserve a stable type. Their messages are fixed
// strings written for clients (lib/errors.js), so they are safe to pass on as `detail`.
const fastifyProblems: Record<string, { type: string; title: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { type: '/problems/malformed-json', title: 'Malformed JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { type: '/problems/malformed-json', title: 'Malformed JSON' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { type: '/problems/unsupported-media-type', title: 'Unsupported media type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { type: '/problems/content-too-large', title: 'Content too large' },
  // Raised by the router before any route runs (frameworkErrors in server.ts sends them here).
  FST_ERR_MAX_PARAM_LENGTH: { type: '/problems/uri-too-long', title: 'URI too long' },
  FST_ERR_BAD_URL: { type: '/problems/malformed-url', title: 'Malformed URL' },
}

/** A domain refusal as its problem document: the one shape POST /tasks answers and a batch item carries. */
export function problemOf(err: DomainError): Problem {
  const { status, title } = domainProblems[err.code]
  const problem: Problem = { type: `/problems/${err.code}`, title, status, detail: err.message }
  if (err.issues.length > 0) problem.errors = err.issues.map(({ path, message }) => ({ path, message }))
  if (err.taskStatus !== undefined) problem.taskStatus = err.taskStatus
  return problem
}

/** The one place an error becomes an HTTP status. Registered once on the root instance. */
export function replyWithProblem(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  // The original service's clients read `message`; its routes answer it beside the problem's own fields.
  const legacy = req.routeOptions?.config?.legacy === true
  const send = (reply: FastifyReply, problem: Problem) => sendProblem(reply, legacy ? withMessage(problem) : problem)
  if (err instanceof ApiKeyRejected) {
    reply.header('www-authenticate', 'Bearer realm="request-tasker"')
    return send(reply, { type: '/problems/unauthorized', title: 'Unauthorized', status: 401, detail: err.message })
  }
  if (err instanceof MethodNotAllowed) {
    reply.header('allow', err.allowed.join(', '))
    return send(reply, {
      type: '/problems/method-not-allowed',
      title: 'Method not allowed',
      status: 405,
      detail: err.message,
    })
  }
  if (err instanceof NotReady) {
    reply.header('retry-after', RETRY_AFTER_SECONDS)
    return send(reply, notReadyProblem(err.readiness))
  }
  if (err instanceof Overloaded) {
    req.log.warn({ reason: err.reason }, 'request shed')
    reply.header('retry-after', RETRY_AFTER_SECONDS)
    return send(reply, {
      type: '/problems/overloaded',
      title: 'Overloaded',
      status: 503,
      detail: 'the server is overloaded; retry later',
    })
  }
  if (err instanceof TooManySubmissions) {
    reply.header('retry-after', String(err.retryAfterSeconds))
    return send(reply, {
      type: '/problems/too-many-requests',
      title: 'Too many requests',
      status: 429,
      detail: err.message,
    })
  }
  if (isDatabaseUnavailable(err)) {
    // Not our bug and not the client's: the database is down or every connection stayed busy past the timeout.
    req.log.warn({ err }, 'database unavailable')
    reply.header('retry-after', RETRY_AFTER_SECONDS)
    return send(reply, {
      type: '/problems/database-unavailable',
      title: 'Database unavailable',
      status: 503,
      detail: 'the database is unavailable; retry later',
    })
  }
  if (err instanceof DomainError) return send(reply, problemOf(err))
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const known = fastifyProblems[err.code]
    const title = known?.title ?? STATUS_CODES[status] ?? 'Client error'
    return send(reply, { type: known?.type ?? 'about:blank', title, status, detail: err.message })
  }
  // Anything else is our fault: log all of it, tell the client nothing it could not already know.
  req.log.error({ err }, 'unhandled error')
  return send(reply, { type: 'about:blank', title: 'Internal Server Error', status: 500 })
}

export function replyNotFound(req: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, {
    type: '/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: `no route for ${req.method} ${req.url.split('?')[0]}`,
  })
}

function sendProblem(reply: FastifyReply, problem: Problem) {
  return reply.code(problem.status).type('application/problem+json').send(problem)
}

/** The original `{message}`: the detail, and each refused field as `path: message`. */
function withMessage(problem: Problem): Problem {
  const fields = problem.errors?.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)) ?? []
  return { ...problem, message: fields.length > 0 ? fields.join('; ') : (problem.detail ?? problem.title) }
}
