import { createHash, timingSafeEqual } from 'node:crypto'
import type { onRequestHookHandler } from 'fastify'
import type { ApiKey } from '../config.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the API key that authenticated this request; set by `requireApiKey`. */
    apiKeyId: string
  }
}

/** Thrown by the hook; `problem.ts` turns it into 401 with `WWW-Authenticate`. */
export class ApiKeyRejected extends Error {
  override readonly name = 'ApiKeyRejected'
}

/**
 * Accepts `Authorization: <key>` (the original service's form) or `Authorization: Bearer <key>`.
 * Register it inside the plugin of the routes it guards, so health checks stay open.
 */
export function requireApiKey(keys: readonly ApiKey[]): onRequestHookHandler {
  // Hashing both sides gives equal-length buffers for timingSafeEqual, so a key's length does not leak either.
  const known = keys.map((k) => ({ id: k.id, digest: sha256(k.key) }))
  // A client sends the same header with every request of a keep-alive connection, and hashing it each time was a
  // few per cent of the server's work. So each connection keeps the last header that passed, and a request whose
  // header is the same is let in without hashing. Only headers that passed are kept, one per open connection and
  // gone with it, and the comparison's time depends on the header presented alone, never on the one kept (a proxy
  // may carry several clients' requests over one connection).
  const passed = new WeakMap<object, { header: string; id: string }>()
  return async function checkApiKey(req) {
    const header = req.headers.authorization
    const connection = req.raw.socket
    const last = passed.get(connection)
    if (header !== undefined && last !== undefined && sameString(header, last.header)) {
      req.apiKeyId = last.id
      return
    }
    const presented = keyFrom(header)
    if (presented === null) throw new ApiKeyRejected('missing API key')
    const digest = sha256(presented)
    let matched: string | null = null
    for (const k of known) {
      // No early exit: every request costs the same comparisons whichever key (if any) matches.
      if (timingSafeEqual(digest, k.digest) && matched === null) matched = k.id
    }
    if (matched === null) throw new ApiKeyRejected('unknown API key')
    req.apiKeyId = matched
    passed.set(connection, { header: header!, id: matched })
  }
}

function keyFrom(header: string | undefined): string | null {
  const value = header?.trim() ?? ''
  const bearer = /^bearer(?:\s+(.*))?$/i.exec(value)
  const key = bearer ? (bearer[1] ?? '') : value
  return key === '' ? null : key
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/**
 * Whether `given` equals `kept` (not empty), looking at every character of `given` whatever they hold: no early
 * exit and no branch on the characters, so the time taken tells nothing of `kept`, not even its length.
 */
function sameString(given: string, kept: string): boolean {
  let diff = given.length ^ kept.length
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ kept.charCodeAt(i % kept.length)
  return diff === 0
}
