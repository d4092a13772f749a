import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'

/** Submissions one API key may make per window. */
export type SubmissionLimit = { max: number; windowMs: number }

/** Thrown past the limit; the one problem mapper answers 429 with Retry-After. */
export class TooManySubmissions extends Error {
  constructor(
    readonly limit: SubmissionLimit,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `at most ${limit.max} submissions per ${Math.round(limit.windowMs / 1000)} s for this API key; ` +
        `retry after ${retryAfterSeconds} s`,
    )
    this.name = 'TooManySubmissions'
  }
}

/**
 * Counts submissions per API key in fixed windows (@fastify/rate-limit, in this process's memory), so one key
 * cannot fill the database and the tasker's queue for every other. Register it in the routes' plugin after the
 * API-key hook, which names the key it counts. `submissionUrls` share one count (the route and its legacy twin);
 * every other route of the plugin goes uncounted.
 */
export function limitSubmissions(app: FastifyInstance, limit: SubmissionLimit, submissionUrls: readonly string[]) {
  const counted = new Set(submissionUrls)
  return app.register(rateLimit, {
    max: limit.max,
    timeWindow: limit.windowMs,
    keyGenerator: (req) => req.apiKeyId,
    allowList: (req) => !(req.method === 'POST' && counted.has(req.routeOptions.url ?? '')),
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
      'retry-after': true,
    },
    errorResponseBuilder: (_req, context) => new TooManySubmissions(limit, Math.ceil(context.ttl / 1000)),
  })
}
