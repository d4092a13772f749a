import { describe, expect, it } from 'vitest'
import { admit, type Decision, SEND_AHEAD_MS } from './flow-admission.js'
import { type FlowDefaults, type FlowState, newFlowState, refill, withLimits } from './flow-control.js'
import { afterOutcome } from './flow-outcome.js'

const T0 = new Date('2026-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const defaults: FlowDefaults = { parallelism: 50, breaker: { failures: 3, coolDownMs: 10_000 }, waitMs: 30_000 }
const limited = (rate: number, burst: number | null = null, parallelism: number | null = null): FlowState =>
  newFlowState(T0, { rate, periodMs: 1000, burst, parallelism })
type Held = Extract<Decision, { runAt: Date }>

/** `n` tasks that hold no place in the key's queue, or the places given: admit's answer, its held ones apart. */
function ask(
  state: FlowState,
  tasks: number | Array<number | null>,
  inFlight: number,
  now: Date,
  slots = Number.POSITIVE_INFINITY,
) {
  const reservations = typeof tasks === 'number' ? Array<null>(tasks).fill(null) : tasks
  const admission = admit(state, reservations, { inFlight, slots }, now, defaults)
  return { ...admission, held: admission.decisions.filter((d): d is Held => !d.go && d.reason !== 'key-busy') }
}
const waits = (held: Held[], from = T0) => held.map((h) => [h.reason, h.runAt.getTime() - from.getTime()])
/** A task given a place in the queue comes back this long before it, to be timed then (see admit). */
const LEAD = SEND_AHEAD_MS / 2

describe('the token bucket', () => {
  it('lets a burst go at once, then gives each other task the next place in the queue, one token apart', () => {
    const first = ask(limited(10, 5), 8, 0, T0)
    expect(first.admitted).toBe(5)
    // The other three get the places of the next tokens, 100 ms apart at 10/s, and come back LEAD before them.
    expect(waits(first.held)).toEqual([
      ['rate-limited', 0], // 100 - LEAD is past
      ['rate-limited', 200 - LEAD],
      ['rate-limited', 300 - LEAD],
    ])
    expect(first.held.map((h) => h.reservation)).toEqual([0, 0, 0])
    // A later claim queues its tasks behind those: places are never given twice.
    const later = ask(first.state, 2, 0, at(50))
    expect(waits(later.held)).toEqual([
      ['rate-limited', 400 - LEAD],
      ['rate-limited', 500 - LEAD],
    ])
    // A task back at its place goes, without a token, before a newcomer of the same claim.
    const back = ask(later.state, [null, 0], 0, at(100))
    expect(back.decisions[1]).toEqual({ go: true, delayMs: 0 })
    expect(waits(back.held)).toEqual([['rate-limited', 600 - LEAD]])
  })

  it('times every send by its token, however late and close together tasks come back to their places', () => {
    const queued = ask(limited(10), 3, 0, T0) // one goes; places at 100 and 200
    // Both come back together at 250: one goes now, the other when the next token is there, 100 ms later.
    const late = ask(queued.state, [0, 0], 0, at(250))
    expect(late.decisions).toEqual([
      { go: true, delayMs: 0 },
      { go: true, delayMs: 100 },
    ])
    // Tokens further off than SEND_AHEAD_MS: those tasks keep their places and come back when the next token is
    // LEAD away (300 ms here), to be timed then.
    const crowd = ask(queued.state, [0, 0, 0, 0, 0], 0, at(250))
    expect(crowd.admitted).toBe(3)
    expect(waits(crowd.held, at(250))).toEqual([
      ['rate-limited', 300 - LEAD],
      ['rate-limited', 300 - LEAD],
    ])
    // Over a second, no more sends than the rate and the burst: at 10/s, burst 1, ten tasks back every 7 ms.
    let state = limited(10)
    const sendTimes: number[] = []
    for (let t = 0; t < 1000; t += 7) {
      const round = ask(state, Array<number>(10).fill(0), 0, at(t))
      state = round.state
      for (const d of round.decisions) if (d.go) sendTimes.push(t + d.delayMs)
    }
    expect(sendTimes.filter((t) => t < 1000)).toHaveLength(10)
    expect(new Set(sendTimes).size).toBe(sendTimes.length) // each at its own time, 100 ms apart
  })

  it('gives a place back when its task cannot go then, and drops the places of an older pace', () => {
    const queued = ask(limited(10, null, 2), 3, 0, T0) // one goes, places at 100 and 200
    // Back at 100 with both slots taken: it waits for a slot, and its token is the next task's.
    const full = ask(queued.state, [0], 2, at(100))
    expect(waits(full.held, at(100))).toEqual([['parallelism', 30_000]])
    expect(full.state.tokens).toBeCloseTo(queued.state.tokens + 1 + 1) // a refill of 100 ms, and the token back
    // New limits void the queue: a task holding a place of the old pace asks again like any other.
    const faster = withLimits(full.state, { rate: 100, periodMs: 1000, burst: null, parallelism: 2 })
    expect(faster.epoch).toBe(1)
    expect(withLimits(faster, { ...faster.limits, parallelism: 5 }).epoch).toBe(1) // the pace did not change
    const again = ask(faster, [0, 0], 0, at(100))
    expect(waits(again.held, at(100))).toEqual([
      ['rate-limited', 0], // places at 10 and 20 ms, back at once
      ['rate-limited', 0],
    ])
    expect(again.held.map((h) => h.reservation)).toEqual([1, 1])
  })

  it('holds a task its owner has no free slot for as key-busy, and takes nothing from the key for it', () => {
    const busy = ask(limited(10, 5), 3, 0, T0, 1)
    expect(busy.admitted).toBe(1)
    expect(busy.decisions.slice(1)).toEqual([
      { go: false, reason: 'key-busy' },
      { go: false, reason: 'key-busy' },
    ])
    expect(busy.state.tokens).toBe(4)
  })

  it('never holds more tokens than the burst, however long the key was quiet', () => {
    expect(refill(limited(10, 3), at(60_000)).tokens).toBe(3)
    expect(refill(limited(10), at(60_000)).tokens).toBe(1) // no burst set: evenly spaced
  })

  it("holds no more in flight than the parallelism, the key's own or the default", () => {
    const own = ask(limited(1000, 1000, 5), 20, 3, T0)
    expect(own.admitted).toBe(2)
    expect(own.held.every((h) => h.reason === 'parallelism' && h.runAt.getTime() === at(30_000).getTime())).toBe(true)
    expect(ask(newFlowState(T0), 80, 45, T0).admitted).toBe(5)
  })

  it('sends nothing for a paused key, however much room it has', () => {
    const paused = { ...newFlowState(T0), paused: true }
    expect(ask(paused, 4, 0, T0)).toMatchObject({ admitted: 0, held: Array(4).fill({ reason: 'paused' }) })
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
    const held = ask(s, 3, 0, at(1200))
    expect(held.admitted).toBe(0)
    // Their places: 0, 34 and 67 ms after the wait; all come back when it ends, to be timed then.
    expect(waits(held.held, at(3100))).toEqual([
      ['rate-limited', 0],
      ['rate-limited', 0],
      ['rate-limited', 0],
    ])
    expect(ask(held.state, [1, 1, 1], 0, at(3100)).decisions).toEqual([
      { go: true, delayMs: 0 },
      { go: true, delayMs: 34 },
      { go: true, delayMs: 67 },
    ])
    // 2. The answers of sends that were in flight then say nothing new: no second halving in the same episode.
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: 1000 }, at(1150), defaults).state
    expect(s.adaptiveRate).toBe(30)
    // 3. Once the wait is over, one token at a time, at 30/s.
    expect(ask(s, 5, 0, at(3100)).admitted).toBe(1)
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
    expect(ask(s, 2, 0, at(5_000)).held.map((h) => [h.reason, h.runAt])).toEqual([
      ['circuit-open', at(10_003)],
      ['circuit-open', at(10_003)],
    ])
    // 3. After it, one probe goes; the others wait for its answer.
    const probe = ask(s, 5, 0, at(10_003))
    expect(probe.admitted).toBe(1)
    expect(probe.state.circuit.state).toBe('half-open')
    expect(ask(probe.state, 5, 1, at(10_010)).admitted).toBe(0)
    // 4. The probe passes: closed, and the key sends again.
    const closed = afterOutcome(probe.state, { kind: 'ok' }, at(10_050), defaults)
    expect(closed.circuitChanged).toBe('closed')
    expect(ask(closed.state, 5, 0, at(10_060)).admitted).toBe(5)
  })

  it('opens again when the probe fails', () => {
    let s: FlowState = { ...newFlowState(T0), circuit: { state: 'open', failures: 3, until: at(100) } }
    s = ask(s, 1, 0, at(100)).state
    const t = afterOutcome(s, { kind: 'failed' }, at(150), defaults)
    expect(t.circuitChanged).toBe('open')
    expect(t.state.circuit.until).toEqual(at(10_150))
  })

  it("counts the last minute's sends, 429s and failures for the key's state", () => {
    let s = ask(newFlowState(T0), 3, 0, at(10)).state
    s = afterOutcome(s, { kind: 'throttled', retryAfterMs: 1 }, at(20), defaults).state
    s = afterOutcome(s, { kind: 'failed' }, at(30), defaults).state
    expect(s.recent).toEqual({ since: T0, sends: 3, throttled: 1, failures: 1 })
    expect(ask(s, 1, 0, at(61_000)).state.recent).toEqual({
      since: at(61_000),
      sends: 1,
      throttled: 0,
      failures: 0,
    })
  })
})
