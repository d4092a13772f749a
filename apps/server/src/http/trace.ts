import { randomBytes } from 'node:crypto'
import { parseTraceparent, startTrace } from '@request-tasker/domain'
import type { FastifyRequest } from 'fastify'

/** Random hex digits, for trace and span ids. */
export const randomHex = (digits: number) =>
  randomBytes(Math.ceil(digits / 2))
    .toString('hex')
    .slice(0, digits)

/** The request's W3C traceparent when valid, else null: a malformed one is dropped, never refused. */
export function givenTraceparent(req: FastifyRequest): string | null {
  const given = req.headers.traceparent
  return parseTraceparent(typeof given === 'string' ? given : undefined)
}

/** The request's traceparent, or a new trace: every task belongs to one. */
export function traceOf(req: FastifyRequest): string {
  return givenTraceparent(req) ?? startTrace(randomHex)
}
