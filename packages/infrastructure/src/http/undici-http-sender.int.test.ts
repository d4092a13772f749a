import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HeaderList, OutboundRequest, SendOutcome } from '@request-tasker/domain'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EMPTY_ALLOWLIST, parseTargetAllowlist, targetPolicy } from './target-policy.js'
import { undiciHttpSender } from './undici-http-sender.js'

const KiB = 1024
const MiB = 1024 * KiB

type Received = { method: string; url: string; headers: HeaderList; body: Buffer }

/** A byte pattern that is not all one value, so a cut in the wrong place shows. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = i % 251
  return bytes
}

async function writeInChunks(res: ServerResponse, total: number) {
  const data = pattern(total)
  for (let at = 0; at < total; at += 64 * KiB) {
    if (!res.write(data.subarray(at, at + 64 * KiB))) await once(res, 'drain')
    if (res.destroyed) return
  }
  res.end()
}

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
  '/echo': (_req, res) => {
    res.end('ok')
  },
  '/cookies': (_req, res) => {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly'])
    res.setHeader('Content-Type', 'text/plain')
    res.end('two cookies')
  },
  '/unavailable': (_req, res) => {
    res.writeHead(503, { 'Retry-After': '30', 'Content-Length': 9 }).end('try later')
  },
  '/redirect': (_req, res) => {
    res.writeHead(302, { Location: '/echo', 'Content-Length': 0 }).end()
  },
  '/5mib': (_req, res) => writeInChunks(res, 5 * MiB), // chunked: no content-length to go by
  '/5mib-declared': (_req, res) => {
    res.setHeader('Content-Length', 5 * MiB)
    return writeInChunks(res, 5 * MiB)
  },
  '/hang': () => {}, // never answers
  '/trickle': async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' })
    while (!res.destroyed) {
      res.write('.')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  },
  '/cut': (_req, res) => {
    res.writeHead(200, { 'Content-Length': 100 * KiB })
    res.write(pattern(10 * KiB), () => res.socket?.destroy())
  },
}

describe('undiciHttpSender', () => {
  let server: Server
  let base: string
  let closedPort: number
  const received: Received[] = []
  // The test server listens on loopback, which only an allow-list lets the sender reach.
  const loopbackAllowed = targetPolicy({ guard: true, allowlist: parseTargetAllowlist('127.0.0.0/8,localhost') })
  const sender = undiciHttpSender({ connections: 4, targets: loopbackAllowed })

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const headers: Array<[string, string]> = []
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!])
      received.push({ method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks) })
      const route = routes[new URL(req.url!, 'http://x').pathname]
      if (route) await route(req, res)
      else res.writeHead(404).end()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const closed = createServer().listen(0, '127.0.0.1')
    await once(closed, 'listening')
    closedPort = (closed.address() as AddressInfo).port
    closed.close()
    await once(closed, 'close')
  })
  afterAll(async () => {
    await sender.close()
    server.closeAllConnections()
    server.close()
  })

  function request(path: string, overrides: Partial<OutboundRequest> = {}): OutboundRequest {
    return { method: 'GET', url: `${base}${path}`, headers: [], body: null, timeoutMs: 5_000, ...overrides }
  }

  function failure(code: string): SendOutcome {
    return { kind: 'failure', error: { code, message: expect.any(String) }, durationMs: expect.any(Number) } as never
  }

  it("sends each attempt as a span of the task's trace, unless the task names a traceparent or it is off", async () => {
    const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const sent = async (s: typeof sender, headers: HeaderList = []) => {
      await s.send(request('/echo', { headers }), { traceparent: trace })
      return received
        .at(-1)!
        .headers.filter(([name]) => name.toLowerCase() === 'traceparent')
        .map(([, v]) => v)
    }
    const [first] = await sent(sender)
    const [second] = await sent(sender)
    expect(first).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(second).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
    expect(new Set([first, second, trace]).size).toBe(3)
    expect(await sent(sender, [['TraceParent', 'theirs']])).toEqual(['theirs'])
    const off = undiciHttpSender({ connections: 1, targets: loopbackAllowed, traceparentOutbound: false })
    expect(await sent(off)).toEqual([])
    await off.close()
  })

  it('sends the exact method, headers (a repeated one as two lines) and binary body', async () => {
    const body = Uint8Array.from([0, 255, 1, 254, 13, 10, 0])
    const outcome = await sender.send(
      request('/echo?q=1', {
        method: 'PUT',
        headers: [
          ['X-Tag', 'a'],
          ['Content-Type', 'application/octet-stream'],
          ['X-Tag', 'b'],
        ],
        body,
      }),
    )

    expect(outcome).toMatchObject({ kind: 'response', httpStatusCode: 200 })
    expect(received.at(-1)).toEqual({
      method: 'PUT',
      url: '/echo?q=1',
      headers: [
        ['host', base.slice('http://'.length)],
        ['connection', 'keep-alive'],
        ['X-Tag', 'a'],
        ['Content-Type', 'application/octet-stream'],
        ['X-Tag', 'b'],
        ['content-length', '7'],
      ],
      body: Buffer.from(body),
    })
  })

  it('keeps repeated response headers, lower-cased, in order', async () => {
    const outcome = await sender.send(request('/cookies'))

    expect(outcome).toEqual({
      kind: 'response',
      httpStatusCode: 200,
      headers: [
        ['set-cookie', 'a=1; Path=/'],
        ['set-cookie', 'b=2; HttpOnly'],
        ['content-type', 'text/plain'],
        ['date', expect.any(String)],
        ['connection', 'keep-alive'],
        ['keep-alive', 'timeout=5'],
        ['content-length', '11'],
      ],
      length: 11,
      body: new TextEncoder().encode('two cookies'),
      bodyTruncated: false,
      durationMs: expect.any(Number),
    })
  })

  it('answers a 503 and a 302 as responses, following no redirect', async () => {
    const unavailable = await sender.send(request('/unavailable'))
    const redirect = await sender.send(request('/redirect'))

    const response = (httpStatusCode: number, headers: HeaderList, body: string): SendOutcome => ({
      kind: 'response',
      httpStatusCode,
      headers: [...headers, ['date', expect.any(String)], ['connection', 'keep-alive'], ['keep-alive', 'timeout=5']],
      length: body.length,
      body: new TextEncoder().encode(body),
      bodyTruncated: false,
      durationMs: expect.any(Number),
    })
    expect(unavailable).toEqual(
      response(
        503,
        [
          ['retry-after', '30'],
          ['content-length', '9'],
        ],
        'try later',
      ),
    )
    expect(redirect).toEqual(
      response(
        302,
        [
          ['location', '/echo'],
          ['content-length', '0'],
        ],
        '',
      ),
    )
    expect(received.at(-1)?.url).toBe('/redirect') // /echo was never requested after it
  })

  it('keeps the first 64 KiB of a 5 MiB body and counts all of it', async () => {
    const outcome = await sender.send(request('/5mib'))

    expect(outcome).toMatchObject({ kind: 'response', httpStatusCode: 200, length: 5 * MiB, bodyTruncated: true })
    const body = (outcome as Extract<SendOutcome, { kind: 'response' }>).body
    expect(Buffer.from(body).equals(pattern(64 * KiB))).toBe(true)
  })

  it('gives up with too_large once a body passes responseMaxBytes, declared or not', async () => {
    const small = undiciHttpSender({ responseMaxBytes: 1 * MiB, targets: loopbackAllowed })
    try {
      const streamed = await small.send(request('/5mib'))
      const declared = await small.send(request('/5mib-declared'))

      expect(streamed).toEqual(failure('too_large'))
      expect(declared).toEqual(failure('too_large'))
    } finally {
      await small.close()
    }
  })

  it('fails with timeout within timeoutMs when the server never answers', async () => {
    const started = performance.now()
    const outcome = await sender.send(request('/hang', { timeoutMs: 300 }))
    const elapsed = performance.now() - started

    expect(outcome).toEqual(failure('timeout'))
    expect((outcome as Extract<SendOutcome, { kind: 'failure' }>).durationMs).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(1_300)
  })

  it('fails with timeout when a body still trickles in at timeoutMs', async () => {
    const started = performance.now()
    const outcome = await sender.send(request('/trickle', { timeoutMs: 300 }))
    const elapsed = performance.now() - started

    expect(outcome).toEqual(failure('timeout'))
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(1_300)
  })

  it('fails with connect when the port is closed', async () => {
    const outcome = await sender.send(request('/', { url: `http://127.0.0.1:${closedPort}/` }))

    expect(outcome).toEqual(failure('connect'))
  })

  it('fails with reset when the server drops the connection mid-body', async () => {
    const outcome = await sender.send(request('/cut'))

    expect(outcome).toEqual(failure('reset'))
  })

  it('fails with dns when the host does not resolve', async () => {
    const outcome = await sender.send(request('/', { url: 'http://no-such-host.invalid/' }))

    expect(outcome).toEqual(failure('dns'))
  })

  describe('with the SSRF guard on and no allow-list', () => {
    const logged: Array<Record<string, unknown>> = []
    const guarded = undiciHttpSender({
      targets: targetPolicy({ guard: true, allowlist: EMPTY_ALLOWLIST }),
      log: pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line)) }),
    })
    afterAll(() => guarded.close())

    // The task's owner reads the message: which internal address a name resolves to is ours to know, not theirs.
    it('refuses a name that resolves to loopback at connect time, telling the owner no address, logging it', async () => {
      const before = received.length
      const outcome = await guarded.send(request('/echo', { url: `${base.replace('127.0.0.1', 'localhost')}/echo` }))

      expect(outcome).toEqual({
        kind: 'failure',
        error: { code: 'blocked', message: 'localhost resolves to an address that is not allowed as a target' },
        durationMs: expect.any(Number),
      })
      expect(received.length).toBe(before)
      expect(logged).toContainEqual(
        expect.objectContaining({
          level: 40,
          msg: 'target address refused',
          host: 'localhost',
          address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
          range: 'loopback',
        }),
      )
    })

    it('refuses a literal loopback address before connecting', async () => {
      const before = received.length
      const outcome = await guarded.send(request('/echo'))

      expect(outcome).toEqual({
        kind: 'failure',
        error: {
          code: 'blocked',
          message: 'address 127.0.0.1 is in the loopback range, which is not allowed as a target',
        },
        durationMs: expect.any(Number),
      })
      expect(received.length).toBe(before)
    })
  })

  it('sends to the same name once the allow-list names it', async () => {
    const outcome = await sender.send(request('/echo', { url: `${base.replace('127.0.0.1', 'localhost')}/echo` }))

    expect(outcome).toMatchObject({ kind: 'response', httpStatusCode: 200 })
    expect(received.at(-1)?.url).toBe('/echo')
  })
})
