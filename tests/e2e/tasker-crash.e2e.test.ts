import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// The guarantee: a 201 means the request will be sent, even when the tasker sending it dies with kill -9.
// What a crash may cost is a second send of the tasks it had in flight, and nothing else.
const e2e = useE2e('tasker-crash')
const TOTAL = 1000
// Short leases so the sweeper takes the dead tasker's tasks back within seconds (a lease is the task's timeoutMs,
// 2000 below, plus the grace). The Kafka session is the default (6 s): the group drops the dead member after it.
const SHORT_LEASES = {
  LEASE_GRACE_MS: '1000',
  SWEEP_INTERVAL_MS: '500',
  // One API key sends every task to one origin: it may use every send slot, as a deployment with a single client and
  // destination would set it.
  SEND_SLOTS_PER_KEY: '200',
  FLOW_DEFAULT_PARALLELISM: '200',
}

it('sends all 1,000 tasks when the tasker is killed mid-run, resending at most those in flight', async () => {
  // 1. 1,000 tasks wait in the outbox; the target answers each after 20–80 ms.
  const target = await e2e.startTarget(() => ({ delayMs: 20 + Math.floor(Math.random() * 60) }))
  const api = e2e.api(await e2e.startServer(), 50)
  const indices = Array.from({ length: TOTAL }, (_, i) => i)
  const submitted = await mapConcurrently(indices, 50, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/tasks/${i}`, body: `task ${i}`, timeoutMs: 2000 }),
  )
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])

  // 2. A tasker starts on them and dies with kill -9 once about 30 % are done.
  const started = performance.now()
  const first = await e2e.startTasker({ ...SHORT_LEASES, SEND_CONCURRENCY: '50' })
  await expect
    .poll(async () => (await e2e.statusCounts()).done ?? 0, { timeout: 60_000, interval: 20 })
    .toBeGreaterThanOrEqual(TOTAL * 0.3)
  expect(await e2e.databaseSessions(first)).toBeGreaterThan(0)
  expect(await first.kill()).toEqual({ code: null, signal: 'SIGKILL' })
  // A claim or a result it sent just before dying may still commit; counted only once its sessions are gone.
  await expect.poll(() => e2e.databaseSessions(first), { timeout: 10_000, interval: 20 }).toBe(0)
  const atKill = await e2e.statusCounts()
  const inFlight = atKill.in_process ?? 0

  // 3. A new tasker finishes the job: unsent messages are redelivered, expired leases requeued.
  const restarted = performance.now()
  await e2e.startTasker(SHORT_LEASES, 120_000)
  await expect.poll(() => e2e.statusCounts(), { timeout: 120_000, interval: 250 }).toEqual({ done: TOTAL })
  const finished = performance.now()

  // 4. Every task reached the target; only tasks in flight at the kill may have reached it twice.
  const hits = target.hits()
  const perTask = indices.map((i) => hits.get(`/tasks/${i}`) ?? 0)
  const sentTwice = perTask.filter((n) => n === 2).length
  const tally = (match: (n: number) => boolean) => perTask.filter(match).length
  expect({ neverSent: tally((n) => n === 0), sentMoreThanTwice: tally((n) => n > 2) }).toEqual({
    neverSent: 0,
    sentMoreThanTwice: 0,
  })
  expect(sentTwice).toBeLessThanOrEqual(inFlight)

  // Every task in flight at the kill was requeued once by the sweeper, and its history shows both claims; it counts
  // two attempts even when the first claim died before sending. A task may also have waited for a slot of its
  // flow-control key (the dead tasker's leased sends count as in flight until their leases run out): such a detour,
  // scheduled (parallelism) and back to new, is no claim and is left out of the shape.
  const { rows } = await e2e.db.pool.query<{ attempts: number; statuses: string[]; reasons: Array<string | null> }>(
    `select t.attempts, array_agg(s.status order by s.seq) as statuses, array_agg(s.reason order by s.seq) as reasons
     from tasks t join task_history s on s.task_id = t.id group by t.id`,
  )
  const shapes = new Map<string, number>()
  let waited = 0
  for (const { attempts, statuses, reasons } of rows) {
    const kept = statuses.filter((status, i) => {
      const waitedHere = status === 'scheduled' && reasons[i] === 'parallelism'
      const backFromWait = status === 'new' && statuses[i - 1] === 'scheduled' && reasons[i - 1] === 'parallelism'
      return !waitedHere && !backFromWait
    })
    if (kept.length < statuses.length) waited++
    const shape = `${attempts}:${kept.join(',')}`
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1)
  }
  const requeued = shapes.get('2:new,in_process,new,in_process,done') ?? 0
  expect(Object.fromEntries(shapes)).toEqual({
    '1:new,in_process,done': TOTAL - requeued,
    ...(requeued > 0 && { '2:new,in_process,new,in_process,done': requeued }),
  })
  expect(requeued).toBe(inFlight)

  console.log(
    `kill -9 tasker: ${TOTAL} tasks, ${sentTwice} sent twice, ${inFlight} were in flight ` +
      `(${atKill.done} done at the kill, ${seconds(restarted - started)} s after the first tasker started; ` +
      `the new tasker finished the rest in ${seconds(finished - restarted)} s, ready included; ${waited} waited ` +
      'for a slot of their flow-control key meanwhile)',
  )
})

const seconds = (ms: number) => (ms / 1000).toFixed(1)
