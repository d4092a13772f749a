import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Secrets at rest: AES-256-GCM through node:crypto, one random 96-bit IV per value, the key's id stored with each
 * sealed value so keys can rotate. The first key of SECRETS_KEYS seals; every key listed opens.
 *
 * A sealed value starts with a line feed, which no header value a client may give contains (the domain refuses CR,
 * LF and NUL), so a sealed value can never be mistaken for a client's own, nor a client's value for a sealed one;
 * a release that does not know the format refuses to send it rather than sending it as it is.
 */
const PREFIX = '\nsealed:v1:'
const IV_BYTES = 12
const TAG_BYTES = 16

export type SecretKey = { readonly id: string; readonly key: Buffer }

export type SecretBox = {
  /** The id of the key that seals, or null when the deployment has none: then nothing can be sealed. */
  readonly keyId: string | null
  /** Every key id this box can open. */
  readonly keyIds: readonly string[]
  seal(plain: string): string
  /** Throws SecretKeyMissing when the value's key is not configured; never says what the value was. */
  open(sealed: string): string
}

export class SecretKeyMissing extends Error {
  override readonly name = 'SecretKeyMissing'
  constructor(readonly keyId: string) {
    super(`a secret was encrypted with key ${JSON.stringify(keyId)}, which SECRETS_KEYS does not list`)
  }
}

export const isSealed = (value: string) => value.startsWith(PREFIX)

/** The id of the key that sealed `value`. */
export function keyIdOf(sealed: string): string {
  return sealed.slice(PREFIX.length, sealed.indexOf(':', PREFIX.length))
}

export function secretBox(keys: readonly SecretKey[]): SecretBox {
  const byId = new Map(keys.map((k) => [k.id, k.key]))
  const current = keys[0] ?? null
  return {
    keyId: current?.id ?? null,
    keyIds: keys.map((k) => k.id),
    seal(plain) {
      if (current === null) throw new Error('no key to encrypt secrets with: set SECRETS_KEYS')
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', current.key, iv)
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return `${PREFIX}${current.id}:${Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64')}`
    },
    open(sealed) {
      if (!isSealed(sealed)) return sealed
      const keyId = keyIdOf(sealed)
      const key = byId.get(keyId)
      if (!key) throw new SecretKeyMissing(keyId)
      const raw = Buffer.from(sealed.slice(PREFIX.length + keyId.length + 1), 'base64')
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
    },
  }
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * SECRETS_KEYS: comma-separated `id:key` entries, each key 32 bytes in base64 (`openssl rand -base64 32`); the first
 * seals, all open. Errors name the entry, never the key.
 */
export function parseSecretKeys(raw: string): SecretKey[] {
  const keys: SecretKey[] = []
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':')
    const id = entry.slice(0, Math.max(colon, 0))
    const key = Buffer.from(entry.slice(colon + 1), 'base64')
    if (colon === -1 || !KEY_ID.test(id)) {
      throw new Error(`entry ${i + 1} must be id:key, the id of letters, digits, '.', '_' or '-' (at most 64)`)
    }
    if (key.length !== 32) throw new Error(`key ${id} must be 32 bytes in base64 (openssl rand -base64 32)`)
    if (keys.some((k) => k.id === id)) throw new Error(`key id ${id} is listed twice`)
    keys.push({ id, key })
  }
  return keys
}
