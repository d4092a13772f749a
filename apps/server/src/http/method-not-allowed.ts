import type { FastifyInstance } from 'fastify'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** Thrown for a known path asked with a method it does not serve; problem.ts answers 405 with `Allow`. */
export class MethodNotAllowed extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly allowed: readonly string[],
  ) {
    super(`${method} is not allowed on ${path}; allowed are ${allowed.join(', ')}`)
    this.name = 'MethodNotAllowed'
  }
}

/**
 * Makes a known path answer 405 with `Allow` for the methods it does not serve, where the router alone would say 404.
 * Call it before any route is added (it watches them through onRoute), and register the plugin it returns after the
 * last of them: it adds, for each path, one route that takes every other method. Those routes sit outside the
 * API-key plugin: which methods a path serves is in the public contract, so a 405 needs no key.
 */
export function answerOtherMethods(app: FastifyInstance) {
  const served = new Map<string, Set<string>>()
  app.addHook('onRoute', (route) => {
    const methods = served.get(route.url) ?? new Set<string>()
    for (const m of [route.method].flat()) methods.add(m)
    // Fastify adds HEAD itself for every GET.
    if (methods.has('GET')) methods.add('HEAD')
    served.set(route.url, methods)
  })
  return async function otherMethods(instance: FastifyInstance) {
    for (const [url, methods] of [...served].map(([u, m]) => [u, [...m]] as const)) {
      const allowed = METHODS.filter((m) => methods.includes(m))
      const others = METHODS.filter((m) => !methods.includes(m))
      // Swagger UI declares /docs and /docs/ as one route with two names: its pages are no API paths anyway.
      if (others.length === 0 || allowed.length === 0 || url.startsWith('/docs')) continue
      instance.route({
        method: others,
        url,
        exposeHeadRoute: false,
        // Before the body is read: a PUT with any body or content type hears 405, not 415 or 413.
        onRequest: async (req) => {
          throw new MethodNotAllowed(req.method, req.url.split('?')[0] ?? url, allowed)
        },
        handler: async () => {
          throw new Error('unreachable: onRequest refuses every request of this route')
        },
      })
    }
  }
}
