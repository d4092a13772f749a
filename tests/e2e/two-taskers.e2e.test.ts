import { expect, it } from 'vitest'
import type { AppProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// Taskers are replicas in one consumer group: they share the partitions, and a rebalance (one joining mid-run,
// one stopping with SIGTERM) moves partitions between them without sending any task twice, since nobody died.
const e2e = useE2e('two-taskers')
const TOTAL = 2000
// A small send budget and a target that takes its time: the backlog outlasts both rebalances, which run with the
// default Kafka session (6 s), as deployed.
// At debug, each tasker logs every task it sent ('task sent'), which is how the test tells who sent what.
const TASKER_ENV = { SEND_CONCURRENCY: '20', CONSUMER_CHUNK_SIZE: '50', LOG_LEVEL: 'debug' }

/** The tasks this tasker logged as sent (a result stored), by id. */
function sentBy(tasker: AppProcess): string[] {
  return tasker
    .logLines()
    .filter((l) => l.msg === 'task sent')
    .map((l) => String(l.taskId))
}

it('shares the partitions between two taskers and sends each task once through a join and a SIGTERM', async () => {
  const target = await e2e.startTarget(() => ({ delayMs: 50 + Math.floor(Math.random() * 50) }))
  const api = e2e.api(await e2e.startServer(), 50)
  const indices = Array.from({ length: TOTAL }, (_, i) => i)
  const submitted = await mapConcurrently(indices, 50, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/tasks/${i}`, body: `task ${i}` }),
  )
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])
  const done = async () => (await e2e.statusCounts()).done ?? 0

  // 1. The first tasker works alone, then a second joins the group mid-run: the partitions are split.
  const first = await e2e.startTasker(TASKER_ENV)
  await expect.poll(done, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(TOTAL * 0.15)
  const second = await e2e.startTasker(TASKER_ENV)
  await expect.poll(() => sentBy(second).length, { timeout: 60_000, interval: 50 }).toBeGreaterThanOrEqual(50)
  const sharedAt = await done()
  expect(sharedAt).toBeLessThan(TOTAL * 0.9) // both were at work on the backlog, not one on its tail

  // 2. The first stops as a deploy stops it; the second takes its partitions and finishes.
  await first.stop()
  await expect.poll(() => e2e.statusCounts(), { timeout: 120_000, interval: 250 }).toEqual({ done: TOTAL })

  // Each task reached the target exactly once, sent by exactly one of the two.
  const hits = target.hits()
  const perTask = indices.map((i) => hits.get(`/tasks/${i}`) ?? 0)
  expect({ neverSent: perTask.filter((n) => n === 0).length, sentTwice: perTask.filter((n) => n > 1).length }).toEqual({
    neverSent: 0,
    sentTwice: 0,
  })
  const [a, b] = [sentBy(first), sentBy(second)]
  expect(new Set([...a, ...b])).toEqual(new Set(submitted.map((s) => s.id)))
  expect(a.length + b.length).toBe(TOTAL)
  expect({ firstSent: a.length > 0, secondSent: b.length > 0 }).toEqual({ firstSent: true, secondSent: true })
  // Every task claimed once, with one attempt. A claim may have held a task back first (its API key's share of a
  // tasker's send slots was in use: `key-busy`), which sends nothing and spends no attempt.
  const { rows } = await e2e.db.pool.query<{ twice: number; held: number }>(
    `select count(*) filter (where t.attempts <> 1 or claims <> 1)::int as twice,
            count(*) filter (where waits > 0)::int as held
     from tasks t cross join lateral (
       select count(*) filter (where s.status = 'in_process') as claims,
              count(*) filter (where s.status = 'scheduled') as waits
       from task_history s where s.task_id = t.id
     ) h`,
  )
  expect(rows[0]!.twice).toBe(0)
  console.log(
    `two taskers: ${TOTAL} tasks, first sent ${a.length}, second sent ${b.length} (sharing the partitions ` +
      `from ${sharedAt} done until the first's SIGTERM), 0 lost, 0 sent twice, ${rows[0]!.held} held back first`,
  )
})
