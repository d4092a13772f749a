// Node checks for expired requests and headers every connectionsCheckingInterval, 30 s by default: once a second
// keeps a cut-off near its timeout.
export const CHECK_TIMEOUTS_EVERY_MS = 1_000

/** How long a client may take: whole request, headers, idle keep-alive, idle socket. */
export type ServerTimeouts = {
  requestTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  connectionTimeoutMs: number
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  connectionTimeoutMs: 60_000,
}
