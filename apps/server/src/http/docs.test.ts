import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { testServer } from '../../testing/test-server.js'
import { OPENAPI_PATH } from './docs.js'

type Json = Record<string, unknown>
const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
const contract = parse(readFileSync(OPENAPI_PATH, 'utf8')) as Json

/** Follows a local `$ref` (`#/components/…`) to what it names. */
function resolve(node: unknown): Json {
  const ref = (node as { $ref?: string })?.$ref
  if (!ref) return node as Json
  return resolve(
    ref
      .slice(2)
      .split('/')
      .reduce<unknown>((at, key) => (at as Json)[key], contract),
  )
}
const hasExample = (media: unknown) => {
  const m = media as { example?: unknown; examples?: Json }
  return m?.example !== undefined || Object.keys(m?.examples ?? {}).length > 0
}

describe('the served contract', () => {
  it('answers GET /openapi.json with openapi.yaml as JSON, without a key', async () => {
    const { app } = testServer()
    const res = await app.inject({ url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toEqual(contract)
  })

  it('serves the API reference at /docs from its own files, with nothing fetched from another host', async () => {
    const { app } = testServer()
    const page = await app.inject({ url: '/docs/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)
    expect(assets.length).toBeGreaterThan(0)
    expect(assets.filter((a) => /^(https?:)?\/\//.test(a))).toEqual([])
    for (const asset of assets) {
      const res = await app.inject({ url: new URL(asset, 'http://server/docs/').pathname })
      expect(res.statusCode, asset).toBe(200)
    }
    // Its policy lets the page load nothing from another host.
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';/)
    expect(page.headers['content-security-policy']).not.toMatch(/https:|validator/)
    const init = await app.inject({ url: '/docs/static/swagger-initializer.js' })
    expect(init.body).toMatch(/"validatorUrl":\s*null/)
    // No address to load from another host (a comment quoting a link is fine).
    expect(init.body).not.toMatch(/(?:url|src|href)["']?\s*[:=]\s*["']https?:\/\//i)
  })

  it('has an example for the request body and the success answer of every operation', () => {
    const missing: string[] = []
    for (const [path, item] of Object.entries(contract.paths as Json)) {
      // A path item also holds what its operations share (`parameters`): only the operations are checked.
      const operations = Object.entries(item as Json).filter(([key]) => OPERATIONS.includes(key))
      for (const [method, op] of operations) {
        const { requestBody, responses } = op as { requestBody?: unknown; responses: Json }
        const body: Json | undefined = requestBody ? resolve(requestBody) : undefined
        for (const [type, media] of Object.entries((body?.content as Json) ?? {})) {
          if (!hasExample(media)) missing.push(`${method} ${path} request ${type}`)
        }
        for (const [status, answer] of Object.entries(responses).filter(([s]) => s.startsWith('2'))) {
          for (const [type, media] of Object.entries((resolve(answer).content as Json) ?? {})) {
            if (!hasExample(media)) missing.push(`${method} ${path} ${status} ${type}`)
          }
        }
      }
    }
    expect(missing).toEqual([])
  })
})
