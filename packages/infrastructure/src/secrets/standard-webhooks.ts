import { createHmac } from 'node:crypto'
import type { RequestSigner } from '@request-tasker/application'

// Standard Webhooks (standardwebhooks.com): a signed message carries `webhook-id` (the same across retries of one
// message), `webhook-timestamp` (Unix seconds of this send) and `webhook-signature`, a space-separated list of
// `v1,<base64 HMAC-SHA256>` over `<id>.<timestamp>.<body bytes>`, one per active secret, keyed with the bytes that
// the secret's base64 (after `whsec_`) encodes. A receiver that knows any one of the secrets accepts the message, so
// a secret can be rotated by adding the new one, moving receivers over, and then deleting the old one.

export const SECRET_PREFIX = 'whsec_'
const SIGNED_HEADERS = new Set(['webhook-id', 'webhook-timestamp', 'webhook-signature'])

export function signatureOf(secrets: readonly string[], id: string, timestamp: number, body: Uint8Array): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
      const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64')
      return `v1,${mac}`
    })
    .join(' ')
}

/**
 * Signs with the key's active secrets as `secretsOf` reads them (opened), kept for `cacheMs` per key so a busy key
 * costs one read a second, not one per send: a deleted secret may sign for that long after its deletion. A client's
 * own webhook-* headers are replaced, never sent beside ours.
 */
export function standardWebhookSigner(
  secretsOf: (ownerKeyId: string) => Promise<string[]>,
  { now = () => new Date(), cacheMs = 1_000 }: { now?: () => Date; cacheMs?: number } = {},
): RequestSigner {
  const cache = new Map<string, { until: number; secrets: Promise<string[]> }>()
  function secrets(ownerKeyId: string): Promise<string[]> {
    const at = now().getTime()
    const hit = cache.get(ownerKeyId)
    if (hit && hit.until > at) return hit.secrets
    const read = secretsOf(ownerKeyId)
    cache.set(ownerKeyId, { until: at + cacheMs, secrets: read })
    read.catch(() => cache.delete(ownerKeyId))
    return read
  }
  return {
    async sign(ownerKeyId, messageId, request) {
      const active = await secrets(ownerKeyId)
      if (active.length === 0) return null
      const timestamp = Math.floor(now().getTime() / 1000)
      const body = request.body ?? new Uint8Array()
      const headers = request.headers.filter(([name]) => !SIGNED_HEADERS.has(name.toLowerCase()))
      return {
        ...request,
        headers: [
          ...headers,
          ['webhook-id', messageId],
          ['webhook-timestamp', String(timestamp)],
          ['webhook-signature', signatureOf(active, messageId, timestamp, body)],
        ],
      }
    },
  }
}
