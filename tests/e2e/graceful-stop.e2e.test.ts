import { beforeAll, describe, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import type { TaskApi } from '../support/task-api.js'

// SIGTERM is how a deploy stops a tasker. Sends in flight either finish before it exits, or — past its shutdown
// deadline — are abandoned to the sweeper, which hands them to the next tasker. Either way it exits 0.
const e2e = useE2e('graceful-stop')
// The abandoning tasker never leaves its group: the next one gets in once its session (6 s by default) runs out.
let api: TaskApi

beforeAll(async () => {
  api = e2e.api(await e2e.startServer())
})

async function tasksOf(ids: string[]) {
  const { rows } = await e2e.db.pool.query<{ id: string; status: string; attempts: number }>(
    'select id, status, attempts from tasks where id = any($1::uuid[]) order by id',
    [ids],
  )
  return rows
}

/** Committed offsets of the tasker's group against the topic's ends: equal when every message was handled. */
async function uncommittedMessages(): Promise<number> {
  const admin = e2e.kafka.kafka.admin()
  await admin.connect()
  try {
    const topic = e2e.kafka.topics.tasks
    const [committed] = await admin.fetchOffsets({ groupId: e2e.groupId, topics: [topic] })
    const ends = await admin.fetchTopicOffsets(topic)
    return ends.reduce((sum, end) => {
      const at = Number(committed!.partitions.find((p) => p.partition === end.partition)?.offset ?? -1)
      return sum + Number(end.high) - Math.max(at, 0)
    }, 0)
  } finally {
    await admin.disconnect()
  }
}

describe('SIGTERM to the tasker', () => {
  it('lets the sends in flight finish and store their results, then exits 0', async () => {
    const target = await e2e.startTarget(() => ({ delayMs: 1000 }))
    const tasker = await e2e.startTasker({ LOG_LEVEL: 'debug' }) // logs each send that ends its task ('task sent')
    const submitted = await Promise.all(
      Array.from({ length: 10 }, (_, i) => api.submit({ method: 'GET', url: `${target.url}/slow/${i}` })),
    )
    const ids = submitted.map((s) => s.id!)
    // All ten are at the target, which holds each for a second.
    await expect.poll(() => target.requests.length, { timeout: 15_000 }).toBe(10)

    await tasker.stop()

    // Some sends were still running when the signal came, and finished before the exit.
    const messages = tasker.logLines().map((l) => l.msg)
    expect(messages.slice(messages.indexOf('stopping'))).toContain('task sent')
    expect((await tasksOf(ids)).map(({ status, attempts }) => ({ status, attempts }))).toEqual(
      ids.map(() => ({ status: 'done', attempts: 1 })),
    )
    expect(target.requests).toHaveLength(10)
    // Their offsets were committed on the way out, so no later tasker meets these messages again.
    expect(await uncommittedMessages()).toBe(0)
  })

  it('abandons sends still running at SHUTDOWN_TIMEOUT_MS, exits 0, and the next tasker sends them again', async () => {
    // Held far longer than the 200 ms the tasker waits, yet within the tasks' 5 s timeout.
    const target = await e2e.startTarget(() => ({ delayMs: 4000 }))
    const leases = { LEASE_GRACE_MS: '1000', SWEEP_INTERVAL_MS: '500' }
    const tasker = await e2e.startTasker({ ...leases, SHUTDOWN_TIMEOUT_MS: '200' })
    const submitted = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        api.submit({ method: 'GET', url: `${target.url}/abandoned/${i}`, timeoutMs: 5000 }),
      ),
    )
    const indexOf = new Map(submitted.map((s, i) => [s.id!, i]))
    await expect.poll(() => target.requests.length, { timeout: 15_000 }).toBeGreaterThan(0)

    await tasker.stop()
    // Held sends were cut off: their tasks stay claimed. A task queued behind one on its partition was never claimed.
    const atStop = await tasksOf([...indexOf.keys()])
    const abandoned = atStop.filter((t) => t.status === 'in_process')
    expect(abandoned.length).toBeGreaterThan(0)
    expect(atStop.filter((t) => t.status !== 'in_process' && t.status !== 'new')).toEqual([])

    // Their leases run out 5.5 s after the claim; the next tasker's sweeper requeues them and they are sent again.
    target.reply(() => ({}))
    await e2e.startTasker(leases)
    await expect
      .poll(async () => (await tasksOf([...indexOf.keys()])).map((t) => t.status), { timeout: 60_000, interval: 200 })
      .toEqual(['done', 'done', 'done', 'done', 'done'])
    const hits = target.hits()
    const after = await tasksOf([...indexOf.keys()])
    expect(after.map((t) => ({ attempts: t.attempts, hits: hits.get(`/abandoned/${indexOf.get(t.id)}`) }))).toEqual(
      atStop.map((t) => (t.status === 'in_process' ? { attempts: 2, hits: 2 } : { attempts: 1, hits: 1 })),
    )
  })
})

describe('SIGTERM to the server', () => {
  it('exits 0 while a client still holds a keep-alive connection, keeping what it accepted', async () => {
    const server = await e2e.startServer()
    const client = e2e.api(server)
    const { status, id } = await client.submit({ method: 'GET', url: 'http://127.0.0.1:1/accepted' })
    expect(status).toBe(201)

    await server.stop()

    expect((await tasksOf([id!])).map((t) => t.id)).toEqual([id])
  })
})
