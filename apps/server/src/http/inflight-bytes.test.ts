import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ALICE, testServer } from '../../testing/test-server.js'

// Each request body is held several times over while it is parsed and written (text, parsed string, bytes, the
// statement's buffer), so many large submissions at once grew the server to 890 MB. Bytes in flight are capped.
const MAX_INFLIGHT = 4_096

let app: FastifyInstance | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await app?.close()
})

async function listening() {
  app = testServer({ bodyLimit: 4_096, maxInflightRequestBytes: MAX_INFLIGHT }).app
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as { port: number }).port
}

function submission(bodyChars: number): string {
  return JSON.stringify({ method: 'POST', url: 'https://example.com/', body: 'x'.repeat(bodyChars) })
}

/** Sends the headers and all but the last byte of the body, so the request stays in flight. */
function heldOpen(port: number, payload: string) {
  const socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {})
  socket.write(
    `POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: ${ALICE.key}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload.slice(0, -1)}`,
  )
  return { finish: () => socket.write(payload.slice(-1)) }
}

function submit(port: number, payload: string) {
  return fetch(`http://127.0.0.1:${port}/tasks`, {
    method: 'POST',
    headers: { authorization: ALICE.key, 'content-type': 'application/json' },
    body: payload,
  })
}

describe('request bytes in flight', () => {
  it('answers 503 with Retry-After to a request whose body would pass the limit, and takes it once room is back', async () => {
    const port = await listening()
    const held = heldOpen(port, submission(3_000))

    // The held request counts from its headers on: poll until the server has taken them.
    await expect.poll(async () => (await submit(port, submission(2_000))).status, { timeout: 3_000 }).toBe(503)
    const refused = await submit(port, submission(2_000))
    expect(refused.headers.get('retry-after')).toBe('5')
    expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8')
    expect(await refused.json()).toEqual({
      type: '/problems/overloaded',
      title: 'Overloaded',
      status: 503,
      detail: 'the server is overloaded; retry later',
    })
    // A small request still fits beside the held one, and so do the probes.
    expect((await submit(port, submission(10))).status).toBe(201)

    held.finish()
    await expect.poll(async () => (await submit(port, submission(2_000))).status, { timeout: 3_000 }).toBe(201)
  })
})
