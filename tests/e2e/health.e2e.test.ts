import { describe, expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'

// The probes an orchestrator polls, on the apps as built: both answer live and ready once their dependencies do.
const e2e = useE2e('health')

async function getJson(url: string) {
  const res = await fetch(url)
  return { status: res.status, body: await res.json() }
}

describe('health probes', () => {
  it('the server answers ready once Postgres holds every migration', async () => {
    const server = await e2e.startServer()

    expect(await getJson(`${server.url}/health/live`)).toEqual({ status: 200, body: { status: 'ok' } })
    expect(await getJson(`${server.url}/health/ready`)).toEqual({
      status: 200,
      body: { status: 'ok', checks: { database: 'ok', migrations: 'ok' } },
    })
  })

  it('the tasker serves live and ready on its own port, ready counting Kafka', async () => {
    const tasker = await e2e.startTasker()
    const listening = await tasker.waitForLog((l) => l.msg === 'health server listening')
    const url = String(listening.url)

    expect(await getJson(`${url}/health/live`)).toEqual({ status: 200, body: { status: 'ok' } })
    expect(await getJson(`${url}/health/ready`)).toEqual({
      status: 200,
      body: { status: 'ok', checks: { database: 'ok', migrations: 'ok', kafka: 'ok' } },
    })
  })
})
