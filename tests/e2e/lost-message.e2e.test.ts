import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'

// The relay deletes an outbox entry once the broker acknowledged its message; a message lost after that (a topic
// recreated, a broker that lost what it had not flushed) would leave its task `new` for good. The reconciler finds
// tasks long new with no outbox entry and queues them again.
const e2e = useE2e('lost-message')

it('sends a task whose message was lost after publication, once it has been new for RECONCILE_AFTER_MS', async () => {
  const target = await e2e.startTarget()
  const api = e2e.api(await e2e.startServer())
  // 1. Accepted while no tasker runs; its outbox entry then disappears, as if published and lost on the way.
  const lost = await api.submit({ method: 'POST', url: `${target.url}/lost`, body: 'x' })
  expect(lost.status).toBe(201)
  const { rowCount } = await e2e.db.pool.query('delete from outbox where task_id = $1', [lost.id])
  expect(rowCount).toBe(1)

  // 2. A tasker that reconciles after 2 s finds it and sends it, once.
  const started = Date.now()
  await e2e.startTasker({ RECONCILE_AFTER_MS: '2000', RECONCILE_INTERVAL_MS: '200' })
  const task = await api.waitUntilFinished(lost.id!, 60_000)
  expect(task).toMatchObject({ status: 'done', attemptCount: 1 })
  expect(target.hits().get('/lost')).toBe(1)
  console.log(`lost message: task sent ${((Date.now() - started) / 1000).toFixed(1)} s after the tasker started`)
})
