import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently, type TaskApi } from '../support/task-api.js'

// Third parties that never answer, or answer a body without end, slowly or at full speed. Each holds one send
// slot until the task's timeout or the response size cap; the tasker's other slots keep sending.
const e2e = useE2e('slow-targets')
const SLOTS = 8
const STUCK_TIMEOUT_MS = 8_000
const SIZE_CAP = 1024 * 1024
let api: TaskApi
let target: Server
let url: string

beforeAll(async () => {
  target = createServer((req, res) => {
    if (req.url === '/silent') return // headers never come
    if (req.url === '/trickle' || req.url === '/flood') {
      // Chunked, no length declared: the size is only known by reading, as with a body of gigabytes.
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(req.url === '/trickle' ? 1024 : 64 * 1024, 'x')
      const write = () => {
        if (res.destroyed) return
        if (req.url === '/trickle') setTimeout(() => res.write(chunk, write), 100)
        else if (res.write(chunk)) setImmediate(write)
        else res.once('drain', write)
      }
      write()
      return
    }
    res.end('ok')
  })
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  url = `http://127.0.0.1:${(target.address() as AddressInfo).port}`

  const server = await e2e.startServer()
  await e2e.startTasker({ SEND_CONCURRENCY: String(SLOTS), RESPONSE_MAX_BYTES: String(SIZE_CAP) })
  api = e2e.api(server)
})

afterAll(async () => {
  target.closeAllConnections()
  target.close()
})

describe('a target that never answers, or answers without end', () => {
  it('holds one slot each until its timeout or the size cap, while every other task is sent meanwhile', async () => {
    const once = { retry: { maxAttempts: 1 }, timeoutMs: STUCK_TIMEOUT_MS }
    const stuck = await mapConcurrently(['/silent', '/silent', '/trickle', '/flood'], 4, async (path) => {
      const { id } = await api.submit({ method: 'GET', url: `${url}${path}`, ...once })
      return { path, id: id! }
    })
    const submittedAt = performance.now()

    const fast = await mapConcurrently(Array.from({ length: 200 }), 10, async (_, i) => {
      const { id } = await api.submit({ method: 'GET', url: `${url}/fast/${i}` })
      return id!
    })
    // Four slots are held (flood only until the cap), so 200 tasks go through the other four or five.
    await mapConcurrently(fast, 10, (id) => api.waitUntilFinished(id, 20_000))
    const fastDoneMs = Math.round(performance.now() - submittedAt)
    console.log(`slow targets: 4 slots of ${SLOTS} held, 200 other tasks done ${fastDoneMs} ms after submission began`)
    expect(fastDoneMs).toBeLessThan(STUCK_TIMEOUT_MS - 2_000)

    const byPath = new Map<string, string[]>()
    for (const { path, id } of stuck) {
      const { json } = await api.get(id)
      byPath.set(path, [...(byPath.get(path) ?? []), json.status])
    }
    expect(Object.fromEntries(byPath)).toEqual({
      '/silent': ['in_process', 'in_process'],
      '/trickle': ['in_process'],
      '/flood': ['error'], // cut off at the cap, long before its timeout
    })

    const ended = await mapConcurrently(stuck, 4, async ({ path, id }) => {
      const task = await api.waitUntilFinished(id, STUCK_TIMEOUT_MS + 10_000)
      return { path, status: task.status, code: (task as { error?: { code: string } }).error?.code }
    })
    expect(ended).toEqual([
      { path: '/silent', status: 'error', code: 'timeout' },
      { path: '/silent', status: 'error', code: 'timeout' },
      { path: '/trickle', status: 'error', code: 'timeout' },
      { path: '/flood', status: 'error', code: 'too_large' },
    ])
  })
})
