import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ALICE, testServer } from '../../testing/test-server.js'

// A client that opens a connection and then trickles or stalls holds a socket and its buffers for as long as we
// let it; enough of them and no one else gets in. Each must be cut off at its timeout, not kept forever.
const timeouts = { requestTimeoutMs: 600, headersTimeoutMs: 300, keepAliveTimeoutMs: 300, connectionTimeoutMs: 2_000 }

let app: FastifyInstance | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await app?.close()
})

async function listening() {
  app = testServer({ timeouts }).app
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Opens a socket, writes `sent`, and records what comes back and when the server closes it. */
async function stalledClient(port: number, sent: string) {
  const socket: Socket = connect(port, '127.0.0.1')
  sockets.push(socket)
  const seen = { answer: '', closed: false }
  socket.on('data', (chunk) => {
    seen.answer += chunk.toString('latin1')
  })
  socket.on('close', () => {
    seen.closed = true
  })
  socket.on('error', () => {})
  socket.write(sent)
  return { seen, socket }
}

describe('slow clients', () => {
  it('cuts off a client that sends its headers and then stalls in the body', async () => {
    const port = await listening()
    const { seen } = await stalledClient(
      port,
      `POST /tasks HTTP/1.1\r\nHost: x\r\nAuthorization: ${ALICE.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"met`,
    )

    await expect.poll(() => seen.closed, { timeout: 4_000, interval: 50 }).toBe(true)
    expect(seen.answer).toMatch(/^HTTP\/1\.1 408 /)
  })

  it('cuts off a client that never finishes its headers', async () => {
    const port = await listening()
    const { seen } = await stalledClient(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: a')

    await expect.poll(() => seen.closed, { timeout: 4_000, interval: 50 }).toBe(true)
    expect(seen.answer).toMatch(/^HTTP\/1\.1 408 /)
  })

  it('closes an idle keep-alive connection after its timeout', async () => {
    const port = await listening()
    const { seen } = await stalledClient(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n')

    await expect.poll(() => seen.closed, { timeout: 4_000, interval: 50 }).toBe(true)
    expect(seen.answer).toMatch(/^HTTP\/1\.1 200 /)
  })
})
