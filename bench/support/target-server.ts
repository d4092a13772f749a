// The third party the tasker sends to, as its own process: `node bench/support/target-server.ts [ports]`.
// Answers 200 "ok" to any request, after `?delay=<ms>`, or `?size=<bytes>` of body instead; listens on several
// loopback ports, each its own origin, and prints {"ports":[...]} once listening.
import { createServer, type Server } from 'node:http'

const count = Number(process.argv[2] ?? 1)
const servers: Server[] = []
const bodies = new Map<number, Buffer>() // one buffer per size asked for, reused: the target must stay cheap
const bodyOf = (size: number) => bodies.get(size) ?? bodies.set(size, Buffer.alloc(size, 'x')).get(size)!

for (let i = 0; i < count; i++) {
  const server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://target').searchParams
    const delay = Number(query.get('delay') ?? 0)
    const body = query.has('size') ? bodyOf(Number(query.get('size'))) : Buffer.from('ok')
    req.resume()
    const answer = () =>
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) }).end(body)
    if (delay > 0) setTimeout(answer, delay)
    else answer()
  })
  // Longer than any client's idle timeout, so the target never closes a keep-alive socket mid-run.
  server.keepAliveTimeout = 120_000
  server.maxRequestsPerSocket = 0
  servers.push(server)
}

await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))))
const ports = servers.map((s) => {
  const address = s.address()
  return typeof address === 'object' && address !== null ? address.port : 0
})
console.log(JSON.stringify({ ports }))

process.once('SIGTERM', () => {
  for (const s of servers) s.close()
  for (const s of servers) s.closeAllConnections()
})
