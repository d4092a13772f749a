import type { OutboundRequest } from '@request-tasker/domain'

/**
 * Signs a request per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with every active
 * signing secret of its API key, over the exact bytes of its body. Null when the key has none: nothing may be sent.
 */
export interface RequestSigner {
  sign(ownerKeyId: string, messageId: string, request: OutboundRequest): Promise<OutboundRequest | null>
}

/** A signing secret as its owner lists it: never the secret, only its last characters. */
export type SigningSecretSummary = { readonly id: string; readonly createdAt: Date; readonly masked: string }

/** A secret just created: the only time its value is shown. */
export type NewSigningSecret = SigningSecretSummary & { readonly secret: string }

/** Each API key's signing secrets, stored encrypted. */
export interface SigningSecrets {
  /** Creates one, unless the key already has `maxActive`: then null. */
  create(ownerKeyId: string, maxActive: number): Promise<NewSigningSecret | null>
  /** The key's active secrets, oldest first. */
  list(ownerKeyId: string): Promise<SigningSecretSummary[]>
  /** Deletes one of the key's active secrets; false when it has no such secret. */
  remove(ownerKeyId: string, id: string): Promise<boolean>
  /** Whether the key has an active secret to sign with. */
  hasActive(ownerKeyId: string): Promise<boolean>
}
