import { SendCapacity } from '@request-tasker/application'
import { okResponse, ScriptedSender } from '@request-tasker/application/testing'
import type { OutboundRequest, SendOutcome } from '@request-tasker/domain'
import { checkReadiness, createRegistry } from '@request-tasker/infrastructure'
import type { Admin } from 'kafkajs'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { startHealthServer } from './health-server.js'
import { meteredSender, observeTasker, outcomeLabel } from './metrics.js'

const log = pino({ level: 'silent' })
const request: OutboundRequest = {
  method: 'GET',
  url: 'https://a.example/x',
  headers: [],
  body: null,
  timeoutMs: 1_000,
}
const timeout: SendOutcome = { kind: 'failure', error: { code: 'timeout', message: 'late' }, durationMs: 1_000 }

describe("the tasker's metrics", () => {
  it('labels outcomes by status class or error code, never by target', () => {
    expect([okResponse(204), okResponse(503), okResponse(302), timeout].map(outcomeLabel)).toEqual([
      '2xx',
      '5xx',
      '3xx',
      'timeout',
    ])
  })

  it('counts and times sends by outcome, and serves them with the defaults on the health listener', async () => {
    const registry = createRegistry()
    const outcomes = [okResponse(200), okResponse(201), okResponse(503), timeout]
    const sender = meteredSender(new ScriptedSender(() => outcomes.shift()!), registry)
    for (let i = 0; i < 4; i++) await sender.send(request, { traceparent: null })
    const capacity = new SendCapacity({ slots: 8, slotsPerKey: 8, unstored: 8, unstoredBytes: 1 << 20 })
    capacity.reserve(3)
    const unreachable = { connect: async () => Promise.reject(new Error('no broker')) } as unknown as Admin
    const db = { query: async () => Promise.reject(new Error('no database')) } as never
    observeTasker(registry, { db, admin: unreachable, groupId: 'g', topic: 't', capacity, log })
    const server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      readiness: () => checkReadiness({}),
      log,
      metrics: registry,
    })
    try {
      const res = await fetch(`${server.url}/metrics`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/)
      const text = await res.text()
      expect(text).toContain('tasker_sends_total{outcome="2xx"} 2')
      expect(text).toContain('tasker_sends_total{outcome="5xx"} 1')
      expect(text).toContain('tasker_sends_total{outcome="timeout"} 1')
      expect(text).toContain('tasker_send_duration_seconds_bucket{le="1",outcome="timeout"} 1')
      expect(text).toContain('send_slots{state="sending"} 3')
      expect(text).toContain('send_slots{state="free"} 5')
      expect(text).toContain('process_resident_memory_bytes')
      expect(text).not.toContain('a.example')
    } finally {
      await server.close()
    }
  })
})
