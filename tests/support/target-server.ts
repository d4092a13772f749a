import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the target received, as it arrived on the wire. */
export type ReceivedRequest = {
  readonly method: string
  /** Path and query, exactly as sent. */
  readonly url: string
  /** [name, value, name, value, …] in arrival order, names in the sender's case, repeats kept. */
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
}

export type TargetReply = {
  status?: number
  /** Sent in this order; a name may repeat (two Set-Cookie). */
  headers?: ReadonlyArray<readonly [string, string]>
  body?: string | Uint8Array
  /** Answers only after this long, as a slow third party would. */
  delayMs?: number
}

export type TargetHandler = (req: ReceivedRequest) => TargetReply

export type TargetServer = {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  readonly requests: readonly ReceivedRequest[]
  /** How many requests got their answer written (a sender that gave up first gets none). */
  answered(): number
  /** How many requests arrived for each path+query. */
  hits(): Map<string, number>
  reply(handler: TargetHandler): void
  close(): Promise<void>
}

/** A third party on 127.0.0.1 that records every request and answers as `handler` says (default: 200, no body). */
export async function startTargetServer(handler: TargetHandler = () => ({})): Promise<TargetServer> {
  const requests: ReceivedRequest[] = []
  let current = handler
  let answered = 0
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const received = {
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
    }
    requests.push(received)
    const { status = 200, headers = [], body = '', delayMs = 0 } = current(received)
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    if (res.destroyed) return // the sender gave up (timeout) or died meanwhile
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body)
    res.sendDate = false // keeps the answer's headers exactly the ones listed here, plus Node's connection headers
    res.writeHead(status, [...headers.flat(), 'Content-Length', String(bytes.length)])
    res.end(bytes)
    answered++
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answered: () => answered,
    hits() {
      const counts = new Map<string, number>()
      for (const r of requests) counts.set(r.url, (counts.get(r.url) ?? 0) + 1)
      return counts
    },
    reply(next) {
      current = next
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A port nothing listens on: bound, then released at once. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
