import { DomainError, invalidRequest, isTaskId } from '@request-tasker/domain'
import type { NewSigningSecret, SigningSecretSummary, SigningSecrets } from './ports/signing.js'

/** At least two, so a receiver can rotate; a few more leave room for several receivers moving at their own pace. */
export const MAX_ACTIVE_SIGNING_SECRETS = 10

export type SigningSecretUseCases = {
  createSigningSecret(ownerKeyId: string): Promise<NewSigningSecret>
  listSigningSecrets(ownerKeyId: string): Promise<SigningSecretSummary[]>
  deleteSigningSecret(ownerKeyId: string, id: string): Promise<void>
}

export function makeSigningSecretUseCases(deps: { secrets: SigningSecrets }): SigningSecretUseCases {
  return {
    async createSigningSecret(ownerKeyId) {
      const created = await deps.secrets.create(ownerKeyId, MAX_ACTIVE_SIGNING_SECRETS)
      if (created === null) {
        throw new DomainError(
          'too-many-signing-secrets',
          `the API key already has ${MAX_ACTIVE_SIGNING_SECRETS} active signing secrets; delete one first`,
        )
      }
      return created
    },
    listSigningSecrets: (ownerKeyId) => deps.secrets.list(ownerKeyId),
    async deleteSigningSecret(ownerKeyId, id) {
      // Secret ids are UUIDs, as task ids are.
      if (!isTaskId(id)) throw invalidRequest([{ path: 'id', message: 'must be a UUID' }])
      if (!(await deps.secrets.remove(ownerKeyId, id))) {
        throw new DomainError('signing-secret-not-found', `the API key has no active signing secret ${id}`)
      }
    },
  }
}
