import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently } from '../support/task-api.js'

// A rough figure, printed and not asserted: machines differ too much for a speed limit to mean anything here.
// What is asserted is that every task ran, exactly once, with the apps at their default settings.
const e2e = useE2e('throughput')
const TOTAL = 1000

it('runs 1,000 tasks end to end, each sent exactly once, and prints tasks/s', async () => {
  const target = await e2e.startTarget(() => ({ delayMs: 20 + Math.floor(Math.random() * 60) }))
  const api = e2e.api(await e2e.startServer(), 50)
  await e2e.startTasker()
  const indices = Array.from({ length: TOTAL }, (_, i) => i)

  const started = performance.now()
  const submitted = await mapConcurrently(indices, 50, (i) =>
    api.submit({ method: 'POST', url: `${target.url}/load/${i}`, body: `task ${i}` }),
  )
  const submitSeconds = (performance.now() - started) / 1000
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])
  await expect.poll(() => e2e.statusCounts(), { timeout: 60_000, interval: 100 }).toEqual({ done: TOTAL })

  const hits = target.hits()
  expect(indices.filter((i) => hits.get(`/load/${i}`) !== 1).length).toBe(0)
  // From the first task's creation to the last one's result, by the database's clock: no polling delay included.
  const { rows } = await e2e.db.pool.query<{ seconds: number }>(
    'select extract(epoch from max(updated_at) - min(created_at))::float8 as seconds from tasks',
  )
  const seconds = rows[0]!.seconds
  console.log(
    `throughput: ${TOTAL} tasks submitted in ${submitSeconds.toFixed(1)} s (${Math.round(TOTAL / submitSeconds)}/s, ` +
      `50 concurrent POSTs), all done ${seconds.toFixed(1)} s after the first was created: ` +
      `${Math.round(TOTAL / seconds)} tasks/s end to end (target answers in 20–80 ms)`,
  )
})
