// The third party the tasker sends to, as its own process: `node bench/support/target-server.ts [ports]`.
// Answers 200 "ok" to any request, after `?delay=<ms>`, or `?size=<bytes>` of body instead; listens on several
// loopback ports, each its own origin, and prints {"ports":[...]} once listening.
// A request with `?mark=<id>` has its arrival noted (CLOCK_MONOTONIC, the clock every process of the machine
// shares): `GET /marks?prefix=<p>` answers and forgets the marks starting with <p>, for dispatch latencies.
import { createServer, type Server, type ServerResponse } from 'node:http'

const count = Number(process.argv[2] ?? 1)
const servers: Server[] = []
const bodies = new Map<number, Buffer>() // one buffer per size asked for, reused: the target must stay cheap
const bodyOf = (size: number) => bodies.get(size) ?? bodies.set(size, Buffer.alloc(size, 'x')).get(size)!
/** First arrival of each mark, in ms of the monotonic clock, and how many times each came again. */
const arrivals = new Map<string, number>()
const repeats = new Map<string, number>()

for (let i = 0; i < count; i++) {
  const server = createServer((req, res) => {
    const arrivedMs = Number(process.hrtime.bigint()) / 1e6
    const url = new URL(req.url ?? '/', 'http://target')
    if (url.pathname === '/marks') return answerMarks(url.searchParams.get('prefix') ?? '', res)
    const query = url.searchParams
    const mark = query.get('mark')
    if (mark !== null) {
      if (arrivals.has(mark)) repeats.set(mark, (repeats.get(mark) ?? 1) + 1)
      else arrivals.set(mark, arrivedMs)
    }
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

function answerMarks(prefix: string, res: ServerResponse) {
  const taken: Record<string, number> = {}
  const takenRepeats: Record<string, number> = {}
  for (const [mark, ms] of arrivals) {
    if (!mark.startsWith(prefix)) continue
    taken[mark] = ms
    arrivals.delete(mark)
    const times = repeats.get(mark)
    if (times !== undefined) takenRepeats[mark] = times
    repeats.delete(mark)
  }
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ arrivals: taken, repeats: takenRepeats }))
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
