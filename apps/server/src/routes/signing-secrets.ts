import type { SigningSecretSummary, SigningSecretUseCases } from '@request-tasker/application'
import type { components } from '@request-tasker/contract'
import type { FastifyPluginAsync, RouteHandler } from 'fastify'
import type { ApiKey } from '../config.js'
import { requireApiKey } from '../http/auth.js'

type Schemas = components['schemas']
type IdRoute = { Params: { id: string } }

/** An API key's own signing secrets; encapsulated, so its API-key hook guards these routes only. */
export const signingSecretRoutes: FastifyPluginAsync<{
  useCases: SigningSecretUseCases
  apiKeys: readonly ApiKey[]
}> = async (app, { useCases, apiKeys }) => {
  app.decorateRequest('apiKeyId', '')
  app.addHook('onRequest', requireApiKey(apiKeys))

  const list: RouteHandler<{ Reply: Schemas['SigningSecretList'] }> = async function listSigningSecrets(req) {
    return { secrets: (await useCases.listSigningSecrets(req.apiKeyId)).map(maskedJson) }
  }

  const create: RouteHandler<{ Reply: Schemas['NewSigningSecret'] }> = async function createSigningSecret(req, reply) {
    const { id, createdAt, secret } = await useCases.createSigningSecret(req.apiKeyId)
    req.log.info({ signingSecretId: id }, 'signing secret created') // the id only: the secret is never logged
    return reply.code(201).header('cache-control', 'no-store').send({ id, createdAt: createdAt.toISOString(), secret })
  }

  const remove: RouteHandler<IdRoute> = async function deleteSigningSecret(req, reply) {
    await useCases.deleteSigningSecret(req.apiKeyId, req.params.id)
    req.log.info({ signingSecretId: req.params.id }, 'signing secret deleted')
    return reply.code(204).send()
  }

  app.get('/signing-secrets', list)
  app.post('/signing-secrets', create)
  app.delete<IdRoute>('/signing-secrets/:id', remove)
}

function maskedJson(s: SigningSecretSummary): Schemas['SigningSecret'] {
  return { id: s.id, createdAt: s.createdAt.toISOString(), secret: s.masked }
}
