// Postgres could not be reached or gave no connection in time: the request may succeed later, so the edge answers
// 503 with Retry-After rather than 500. pg raises these as plain Errors, told apart by code or fixed message.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
// SQLSTATE class 08 (connection exception), 53300 too_many_connections, 57P01–57P03 (shutting down, cannot connect now).
const SQLSTATE = /^(08...|53300|57P0[123])$/
/** A write that waited this long for its turn, behind writes that hold the database (see writeBatcher). */
export const QUEUE_TIMEOUT_MESSAGE = 'timeout exceeded waiting for a turn to write'
const MESSAGES = [
  'timeout exceeded when trying to connect', // pg-pool: no connection within connectionTimeoutMillis
  QUEUE_TIMEOUT_MESSAGE,
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
]

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATE.test(code))) return true
    if (MESSAGES.includes(e.message)) return true
  }
  return false
}
