import { Agent, request } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ALICE, BOB, testServer } from '../../testing/test-server.js'

let app: FastifyInstance | undefined
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
afterEach(async () => {
  agent.destroy()
  await app?.close()
})

/** POST /tasks over the one keep-alive socket of `agent`: the status, the answer and the socket it went over. */
async function ask(port: number, authorization: string | undefined) {
  return new Promise<{ status: number; body: unknown; socket: object }>((resolve, reject) => {
    const req = request(
      { port, host: '127.0.0.1', path: '/tasks', method: 'POST', agent, headers: headersOf(authorization) },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), socket: req.socket! }))
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify({ method: 'GET', url: 'https://example.com/' }))
  })
}
const headersOf = (authorization: string | undefined) => ({
  'content-type': 'application/json',
  ...(authorization !== undefined && { authorization }),
})

describe('the API key check on a keep-alive connection', () => {
  it('lets in only the header that passed on it, and checks any other as the first time', async () => {
    const server = testServer()
    app = server.app
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }

    // 1. Alice's key passes, then her same header again; a wrong or missing one on the same socket is refused.
    const first = await ask(port, `Bearer ${ALICE.key}`)
    const again = await ask(port, `Bearer ${ALICE.key}`)
    const prefix = await ask(port, `Bearer ${ALICE.key.slice(0, -1)}`)
    const longer = await ask(port, `Bearer ${ALICE.key}x`)
    const missing = await ask(port, undefined)
    // 2. Bob's key on the same socket (a proxy carrying two clients) files his task under his id, and Alice's
    //    raw key is hers again.
    const bob = await ask(port, BOB.key)
    const alice = await ask(port, ALICE.key)

    expect([first, again, prefix, longer, missing, bob, alice].map((r) => r.status)).toEqual([
      201, 201, 401, 401, 401, 201, 201,
    ])
    expect(new Set([first, again, prefix, longer, missing, bob, alice].map((r) => r.socket)).size).toBe(1)
    const owners = [...server.store.rows.values()].map((row) => row.task.ownerKeyId)
    expect(owners).toEqual(['alice', 'alice', 'bob', 'alice'])
  })
})
