import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, expect, it } from 'vitest'
import { toMb, trackPeakRss } from '../../bench/support/memory.js'
import { useE2e } from '../support/e2e.js'

// A backlog drained at full speed with large bodies both ways: sends outrun the writes of their outcomes. Claims
// must then wait for those writes, so memory stays bounded and no outcome waits past its task's lease (which would
// let the sweeper send the task again although no tasker died).
const e2e = useE2e('large-answer-drain')
const TASKS = 4000
const REQUEST_BYTES = 64 * 1024
const ANSWER_BYTES = 256 * 1024
// Short leases, so an outcome left waiting would be swept within seconds: a lease is timeoutMs plus the grace.
const TIMEOUT_MS = 3000
const SHORT_LEASES = { LEASE_GRACE_MS: '2000', SWEEP_INTERVAL_MS: '500' }

const hits = new Map<string, number>()
const answer = Buffer.alloc(ANSWER_BYTES, 'a')
const target = createServer((req, res) => {
  hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
  req.resume() // the request body is read and dropped: only the count matters here
  req.on('end', () => res.writeHead(200, { 'content-length': ANSWER_BYTES }).end(answer))
})
afterAll(() => {
  target.closeAllConnections()
  target.close()
})

it(`drains ${TASKS} tasks with 64 KiB requests and 256 KiB answers, sending none twice in bounded memory`, async () => {
  target.listen(0, '127.0.0.1')
  await once(target, 'listening')
  const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}`

  // 1. The backlog: one task through the API, copied in SQL (every column as the server writes it) with outbox
  //    entries, as if submitted while no tasker ran.
  const api = e2e.api(await e2e.startServer())
  const template = await api.submit({
    method: 'POST',
    url: `${url}/template`,
    body: 'b'.repeat(REQUEST_BYTES),
    timeoutMs: TIMEOUT_MS,
  })
  expect(template.status).toBe(201)
  const { rowCount } = await e2e.db.pool.query(
    `with template as (
       delete from tasks where id = $1 returning *
     ), unqueued as (
       delete from outbox where task_id = $1
     ), copies as (
       insert into tasks
       select (jsonb_populate_record(null::tasks,
                 to_jsonb(t) || jsonb_build_object('id', gen_random_uuid(), 'url', $2 || '/tasks/' || i))).*
       from template t, generate_series(1, $3::integer) i
       returning id
     )
     insert into outbox (kind, task_id) select 'task.requested', id from copies`,
    [template.id, url, TASKS],
  )
  expect(rowCount).toBe(TASKS)

  // 2. One tasker with the heap settings of .env, as scripts/run-apps.sh and Compose start it.
  const started = performance.now()
  const tasker = await e2e.startTasker({ ...SHORT_LEASES, NODE_OPTIONS: envFileValue('TASKER_NODE_OPTIONS') })
  const rss = trackPeakRss(tasker.pid)
  await expect.poll(() => e2e.statusCounts(), { timeout: 180_000, interval: 500 }).toEqual({ done: TASKS })
  const seconds = (performance.now() - started) / 1000
  const peakMb = toMb(rss.stop())
  await tasker.stop()

  // 3. Every task reached the target exactly once, no lease ran out, and the process stayed small.
  const perTask = Array.from({ length: TASKS }, (_, i) => hits.get(`/tasks/${i + 1}`) ?? 0)
  const sentTwice = perTask.filter((n) => n > 1).length
  const requeued = tasker.logLines().filter((l) => l.msg === 'lease expired, task requeued').length
  console.log(
    `large-answer drain: ${TASKS} tasks in ${seconds.toFixed(1)} s, ${sentTwice} sent twice, ` +
      `${requeued} leases expired, tasker peak RSS ${peakMb} MB`,
  )
  expect({ neverSent: perTask.filter((n) => n === 0).length, sentTwice, requeued }).toEqual({
    neverSent: 0,
    sentTwice: 0,
    requeued: 0,
  })
  expect(peakMb).toBeLessThan(400)
})

/** A value of the repository's .env, which the apps' launchers read. */
function envFileValue(name: string): string {
  const line = readFileSync(new URL('../../.env', import.meta.url), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}=`))
  if (!line) throw new Error(`${name} is not in .env`)
  return line.slice(name.length + 1)
}
