import { createRegistry } from '@request-tasker/infrastructure'
import { describe, expect, it } from 'vitest'
import { ALICE, testServer } from '../../testing/test-server.js'

describe("the server's metrics", () => {
  it('counts requests by route pattern and status, tasks submitted by route, and never names a task', async () => {
    const registry = createRegistry()
    const { app } = testServer({ metrics: { registry, waiters: () => 3 } })
    const alice = { authorization: ALICE.key }
    const { id } = (
      await app.inject({
        method: 'POST',
        url: '/tasks',
        headers: alice,
        payload: { method: 'GET', url: 'https://a.example/' },
      })
    ).json()
    await app.inject({ url: `/tasks/${id}`, headers: alice })
    await app.inject({ url: '/tasks/0190a0b0-0000-7000-8000-000000000001', headers: alice })
    await app.inject({ url: '/nowhere' })
    await app.inject({
      method: 'POST',
      url: '/tasks/batch',
      headers: alice,
      payload: {
        tasks: [
          { method: 'GET', url: 'https://a.example/' },
          { method: 'GET', url: 'https://b.example/' },
        ],
      },
    })

    const text = await registry.metrics()
    expect(text).toContain('http_requests_total{method="POST",route="/tasks",status_code="201"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="/tasks/:id",status_code="200"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="/tasks/:id",status_code="404"} 1')
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status_code="404"} 1')
    expect(text).toMatch(
      /http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/tasks",status_code="201"\} 1/,
    )
    expect(text).toContain('tasks_submitted_total{via="single"} 1')
    expect(text).toContain('tasks_submitted_total{via="batch"} 2')
    expect(text).toContain('task_waiters 3')
    expect(text).toContain('nodejs_eventloop_lag_p99_seconds')
    expect(text).not.toContain(id)
    expect(text).not.toContain('a.example')
  })
})
