import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Overloaded } from './load-shedding.js'

/**
 * Caps the request body bytes the server holds at once. A body is held several times over while it is read,
 * parsed and written (its text, the parsed string, its bytes, the statement's buffer), so a hundred clients
 * sending 1 MB each grew the process to 890 MB. A request counts from its headers (its Content-Length, or the
 * body limit when it streams without one) until its response is done or its connection closes; one that would
 * pass `maxBytes` is refused before its body is read, with 503 and Retry-After. The first one always fits.
 */
export function boundRequestBytesInFlight(
  app: FastifyInstance,
  { maxBytes, bodyLimit }: { maxBytes: number; bodyLimit: number },
) {
  let inFlight = 0
  app.addHook('onRequest', async function countRequestBytes(req, reply) {
    // A route may take more than the server's limit (POST /tasks/batch): its own limit is what it may hold.
    const bytes = declaredBytes(req, req.routeOptions.bodyLimit ?? bodyLimit)
    if (bytes === 0) return
    if (inFlight > 0 && inFlight + bytes > maxBytes) {
      throw new Overloaded(`${inFlight} request bytes in flight, ${bytes} more asked`)
    }
    inFlight += bytes
    // 'close' comes once per response, whether it was sent or its connection dropped (a timeout, a client gone).
    reply.raw.once('close', () => {
      inFlight -= bytes
    })
  })
}

function declaredBytes(req: FastifyRequest, bodyLimit: number): number {
  const length = req.headers['content-length']
  // Past the body limit it is refused (413) without being read.
  if (length !== undefined) return Math.min(Number(length) || 0, bodyLimit)
  return req.headers['transfer-encoding'] === undefined ? 0 : bodyLimit
}
