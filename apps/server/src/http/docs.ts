import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import swagger, { type StaticDocumentSpec } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyPluginAsync } from 'fastify'
import { parse } from 'yaml'

/** openapi.yaml at the root of the checkout (or the image), the one contract the types are generated from. */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../../openapi.yaml', import.meta.url))

// Read and parsed once, when the module loads: parsing it while a server starts held its event loop long enough to
// look like overload to the load shedder's first sample.
const CONTRACT = parse(readFileSync(OPENAPI_PATH, 'utf8')) as StaticDocumentSpec['document']

const LOCAL_ONLY_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self' data:",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join('; ')

/**
 * The contract as served: `GET /openapi.json`, and an API reference at `/docs` rendered by Swagger UI from the
 * same document. Every asset comes from the plugin's own package (no CDN), and Swagger UI's online validator is
 * off, so the page loads on a network that reaches nothing but this server. No API key: the contract is public.
 */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  await app.register(swagger, { mode: 'static', specification: { document: CONTRACT } })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // The page's own files only: the plugin's default also lets styles and fonts come from any https: host and
    // images from Swagger's online validator. Inline styles stay allowed, as Swagger UI sets some itself.
    staticCSP: true,
    transformStaticCSP: () => LOCAL_ONLY_CSP,
    uiConfig: { validatorUrl: null, deepLinking: true, displayRequestDuration: true },
  })
  app.get('/openapi.json', async function contract() {
    return CONTRACT
  })
}
