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
  return async function checkApiKey(req) {
    const presented = keyFrom(req.headers.authorization)
    if (presented === null) throw new ApiKeyRejected('missing API key')
    const digest = sha256(presented)
    let matched: string | null = null
    for (const k of known) {
      // No early exit: every request costs the same comparisons whichever key (if any) matches.
      if (timingSafeEqual(digest, k.digest) && matched === null) matched = k.id
    }
    if (matched === null) throw new ApiKeyRejected('unknown API key')
    req.apiKeyId = matched
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
