import { beforeAll, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import { mapConcurrently, type TaskApi } from '../support/task-api.js'

// A client that lost the answer to its POST sends it again with the same Idempotency-Key: however many copies
// arrive, at once or later, one task is stored and the third party is called once.
const e2e = useE2e('idempotency')
let api: TaskApi

beforeAll(async () => {
  api = e2e.api(await e2e.startServer())
  await e2e.startTasker()
})

it('stores one task for ten racing submissions with one key, and sends it once', async () => {
  const target = await e2e.startTarget(() => ({ body: 'once' }))
  const body = { method: 'POST', url: `${target.url}/charge`, body: '{"amount":7}' }

  const answers = await mapConcurrently(Array.from({ length: 10 }), 10, () =>
    api.submit(body, 'current', { 'idempotency-key': 'charge-7' }),
  )
  // Submitted.id is only read from a 201; a repeat's id is in its body.
  const ids = answers.map((a) => (a.body as { id: string }).id)
  const id = ids[0]!
  await api.waitUntilFinished(id)
  const later = await api.submit(body, 'current', { 'idempotency-key': 'charge-7' })
  const changed = await api.submit({ ...body, body: '{"amount":8}' }, 'current', { 'idempotency-key': 'charge-7' })

  expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
  expect(new Set(ids)).toEqual(new Set([id]))
  expect(later).toMatchObject({ status: 200, body: { id } })
  expect(changed).toMatchObject({ status: 409, body: { type: '/problems/idempotency-key-reused' } })
  expect(target.requests.map((r) => r.url)).toEqual(['/charge'])
  expect(await e2e.statusCounts()).toEqual({ done: 1 })
})
