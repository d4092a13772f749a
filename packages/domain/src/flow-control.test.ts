import { describe, expect, it } from 'vitest'
import { admit, afterOutcome, type FlowDefaults, type FlowState, newFlowState, refill } from './flow-control.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const defaults: FlowDefaults = { parallelism: 50, breaker: { failures: 3, coolDownMs: 10_000 }, waitMs: 30_000 }
const limited = (rate: number, burst: number | null = null, parallelism: number | null = null): FlowState =>
  newFlowState(T0, { rate, periodMs: 1000, burst, parallelism })

describe('the token bucket', () => {
  it('lets a burst go at once, then one request per token as the bucket refills', () => {
    const first = admit(limited(10, 5), 8, 0, T0, defaults)
    expect(first.admitted).toBe(5)
    // The other three come back when their tokens will be there: 100 ms apart at 10/s.
    expect(first.held.map((h) => [h.reason, h.runAt.getTime() - T0.getTime()])).toEqual([
      ['rate-limited', 100],
      ['rate-limited', 200],
      ['rate-limited', 300],
    ])
    expect(admit(first.state, 3, 0, at(50), defaults).admitted).toBe(0)
    expect(admit(first.state, 3, 0, at(250), defaults).admitted).toBe(2)
  })

  it('never holds more tokens than the burst, however long the key was quiet', () => {
    expect(refill(limited(10, 3), at(60_000)).tokens).toBe(3)
    expect(refill(limited(10), at(60_000)).tokens).toBe(1) // no burst set: evenly spaced
  })

  it("holds no more in flight than the parallelism, the key's own or the default", () => {
    const own = admit(limited(1000, 1000, 5), 20, 3, T0, defaults)
    expect(own.admitted).toBe(2)
    expect(own.held.every((h) => h.reason === 'parallelism' && h.runAt.getTime() === at(30_000).getTime())).toBe(true)
    expect(admit(newFlowState(T0), 80, 45, T0, defaults).admitted).toBe(5)
  })

  it('sends nothing for a paused key, however much room it has', () => {
    const paused = { ...newFlowState(T0), paused: true }
    expect(admit(paused, 4, 0, T0, defaults)).toMatchObject({ admitted: 0, held: Array(4).fill({ reason: 'paused' }) })
  })
})

describe('the adaptive rate', () => {
  it('holds the whole key for the Retry-After asked, then goes on at half the rate the destination took', () => {
    // 1. 60 answers in the last second, then a 429 asking for 2 s: the key waits, and backs off to 30/s.
    let s = newFlowState(T0)
    for (let i = 0; i < 60; i++) s = afterOutcome(s, { kind: 'ok' }, at(1000 + i), defaults).state
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: 2000 }, at(1100), defaults).state
    expect(s.adaptiveRate).toBe(30)
    expect(s.blockedUntil).toEqual(at(3100))
    const held = admit(s, 3, 0, at(1200), defaults)
    expect(held.admitted).toBe(0)
    expect(held.held.map((h) => [h.reason, h.runAt.getTime() - at(3100).getTime()])).toEqual([
      ['rate-limited', 0],
      ['rate-limited', 34],
      ['rate-limited', 68],
    ])
    // 2. The answers of sends that were in flight then say nothing new: no second halving in the same episode.
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: 1000 }, at(1150), defaults).state
    expect(s.adaptiveRate).toBe(30)
    // 3. Once the wait is over, one token at a time, at 30/s.
    expect(admit(s, 5, 0, at(3100), defaults).admitted).toBe(1)
  })

  it('grows back 10 % a second of sends that pass, never above a configured rate', () => {
    let s: FlowState = { ...limited(40), adaptiveRate: 20, adaptedAt: T0 }
    s = afterOutcome(s, { kind: 'ok' }, at(1000), defaults).state
    expect(s.adaptiveRate).toBeCloseTo(22)
    s = afterOutcome(s, { kind: 'ok' }, at(60_000), defaults).state
    expect(s.adaptiveRate).toBe(40)
  })

  it('backs off an unconfigured key too, so a rate-limited host is not hammered', () => {
    let s = newFlowState(T0)
    for (let i = 0; i < 50; i++) s = afterOutcome(s, { kind: 'ok' }, at(i * 10), defaults).state
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: null }, at(600), defaults).state
    expect(s.adaptiveRate).toBe(25)
    expect(s.blockedUntil).toEqual(at(1600)) // no Retry-After: a second
  })
})

describe('the circuit breaker', () => {
  it('opens after a run of failures, holds the key for the cool-down, lets one probe go, and closes on its success', () => {
    // 1. Three failures in a row open it; a success in between would have started the count again.
    let s = newFlowState(T0)
    let t = afterOutcome(s, { kind: 'failed' }, at(1), defaults)
    t = afterOutcome(t.state, { kind: 'failed' }, at(2), defaults)
    expect(t.circuitChanged).toBeNull()
    t = afterOutcome(t.state, { kind: 'failed' }, at(3), defaults)
    expect(t.circuitChanged).toBe('open')
    s = t.state
    expect(s.circuit).toEqual({ state: 'open', failures: 3, until: at(10_003) })

    // 2. Tasks wait the cool-down out, with no attempt spent.
    expect(admit(s, 2, 0, at(5_000), defaults).held.map((h) => [h.reason, h.runAt])).toEqual([
      ['circuit-open', at(10_003)],
      ['circuit-open', at(10_003)],
    ])
    // 3. After it, one probe goes; the others wait for its answer.
    const probe = admit(s, 5, 0, at(10_003), defaults)
    expect(probe.admitted).toBe(1)
    expect(probe.state.circuit.state).toBe('half-open')
    expect(admit(probe.state, 5, 1, at(10_010), defaults).admitted).toBe(0)
    // 4. The probe passes: closed, and the key sends again.
    const closed = afterOutcome(probe.state, { kind: 'ok' }, at(10_050), defaults)
    expect(closed.circuitChanged).toBe('closed')
    expect(admit(closed.state, 5, 0, at(10_060), defaults).admitted).toBe(5)
  })

  it('opens again when the probe fails', () => {
    let s: FlowState = { ...newFlowState(T0), circuit: { state: 'open', failures: 3, until: at(100) } }
    s = admit(s, 1, 0, at(100), defaults).state
    const t = afterOutcome(s, { kind: 'failed' }, at(150), defaults)
    expect(t.circuitChanged).toBe('open')
    expect(t.state.circuit.until).toEqual(at(10_150))
  })

  it("counts the last minute's sends, 429s and failures for the key's state", () => {
    let s = admit(newFlowState(T0), 3, 0, at(10), defaults).state
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: 1 }, at(20), defaults).state
    s = afterOutcome(s, { kind: 'failed' }, at(30), defaults).state
    expect(s.recent).toEqual({ since: T0, sends: 3, throttled: 1, failures: 1 })
    expect(admit(s, 1, 0, at(61_000), defaults).state.recent).toEqual({
      since: at(61_000),
      sends: 1,
      throttled: 0,
      failures: 0,
    })
  })
})
