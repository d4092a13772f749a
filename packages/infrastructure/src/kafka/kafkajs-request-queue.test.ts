import { createRequire } from 'node:module'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

// kafkajs 2.2.4 as patched by patches/kafkajs@2.2.4.patch. Its request queue armed a timer after every response,
// even with nothing queued, with a negative delay that Node runs after 1 ms and that arms the next one; and every
// connection looked for timed-out requests every 100 ms. These tests hold the patch to "a timer only while
// requests wait" and "a timeout check a second", and to sending what waits, and timing out what is late, all the same.

type Entry = { correlationId: number; apiKey: number; apiName: string; apiVersion: number }
type RequestQueue = {
  scheduleRequestTimeoutCheck(): void
  destroy(): void
  push(request: { entry: Entry; expectResponse: boolean; sendRequest: () => void }): void
  fulfillRequest(response: { correlationId: number; payload: null; size: number }): void
  maybeThrottle(ms: number): void
}
type RequestQueueClass = new (options: Record<string, unknown>) => RequestQueue

const require = createRequire(import.meta.url)
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass

const quietLogger = { debug() {}, info() {}, warn() {}, error() {} }

function newQueue(maxInFlightRequests: number, options: Record<string, unknown> = {}): RequestQueue {
  return new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: '127.0.0.1:9092',
    logger: quietLogger,
    ...options,
  })
}

function request(correlationId: number) {
  const entry = {
    correlationId,
    apiKey: 3,
    apiName: 'Metadata',
    apiVersion: 6,
    resolve: vi.fn(),
    reject: vi.fn(),
  }
  return { entry, expectResponse: true, sendRequest: vi.fn() }
}

describe('kafkajs request queue (patched)', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('arms no timer once a response leaves nothing queued', () => {
    const queue = newQueue(1)
    queue.push(request(1))
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 })

    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(1_000)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('sends a request held back by the in-flight limit when the one in flight is answered', () => {
    const queue = newQueue(1)
    const first = request(1)
    const second = request(2)
    queue.push(first)
    queue.push(second)
    expect(second.sendRequest).not.toHaveBeenCalled()

    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 })

    expect(second.sendRequest).toHaveBeenCalledOnce()
    queue.fulfillRequest({ correlationId: 2, payload: null, size: 0 })
    vi.advanceTimersByTime(1_000) // the check armed while the second request waited runs once, and arms no other
    expect(vi.getTimerCount()).toBe(0)
  })

  it('sends a request queued while throttled once the throttle ends, and not before', () => {
    const queue = newQueue(10)
    queue.maybeThrottle(500)
    const throttled = request(1)
    queue.push(throttled)

    vi.advanceTimersByTime(499)
    expect(throttled.sendRequest).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(throttled.sendRequest).toHaveBeenCalledOnce()
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 })
    vi.advanceTimersByTime(1_000)
    expect(vi.getTimerCount()).toBe(0)
  })
  it('looks for timed-out requests once a second, and times out a late one within that second', () => {
    const isConnected = vi.fn(() => true)
    const queue = newQueue(10, { enforceRequestTimeout: true, isConnected })
    queue.scheduleRequestTimeoutCheck()
    const late = request(1)
    queue.push(late)

    vi.advanceTimersByTime(30_000)
    expect(isConnected).toHaveBeenCalledTimes(30) // once per check
    expect(late.entry.reject).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1_000)
    expect(late.entry.reject).toHaveBeenCalledOnce()
    queue.destroy()
  })
})
