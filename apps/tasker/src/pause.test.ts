import { describe, expect, it, vi } from 'vitest'
import { createPause } from './pause.js'
import { startPeriodicLoop } from './periodic-loop.js'

const silent = { error: vi.fn() } as never

describe('createPause', () => {
  it('resolves early when woken', async () => {
    const pause = createPause()
    const started = performance.now()
    const waiting = pause.wait(60_000)
    pause.wake()
    await waiting
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('keeps a wake that came while nobody waited, for the next wait only', async () => {
    const pause = createPause()
    pause.wake()
    const started = performance.now()
    await pause.wait(60_000)
    expect(performance.now() - started).toBeLessThan(1000)

    let settled = false
    void pause.wait(60_000).then(() => {
      settled = true
    })
    await new Promise((r) => setImmediate(r))
    expect(settled).toBe(false)
    pause.wake()
    await vi.waitFor(() => expect(settled).toBe(true))
  })
})

describe('startPeriodicLoop', () => {
  it('runs again at once when woken during a pass, so nothing waits for the next poll', async () => {
    let calls = 0
    let loop: ReturnType<typeof startPeriodicLoop> | undefined
    loop = startPeriodicLoop(
      'test',
      async () => {
        if (++calls === 1) {
          await new Promise((r) => setImmediate(r)) // the loop exists by now
          loop?.wake() // a notification arriving mid-pass
        }
        return { more: false }
      },
      60_000,
      silent,
    )
    await vi.waitFor(() => expect(calls).toBe(2))
    await loop.stop()
  })

  it('repeats at once while a pass reports more, and rests otherwise', async () => {
    let left = 3
    const pass = vi.fn(async () => ({ more: --left > 0 }))
    const loop = startPeriodicLoop('test', pass, 60_000, silent)
    await vi.waitFor(() => expect(pass).toHaveBeenCalledTimes(3))
    loop.wake()
    await vi.waitFor(() => expect(pass).toHaveBeenCalledTimes(4))
    await loop.stop()
  })

  it('survives a failing pass and stops after the pass in flight', async () => {
    const log = { error: vi.fn() }
    let calls = 0
    const loop = startPeriodicLoop(
      'test',
      async () => {
        calls++
        if (calls === 1) throw new Error('db down')
        return { more: false }
      },
      5,
      log as never,
    )
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2))
    await loop.stop()
    const after = calls
    await new Promise((r) => setTimeout(r, 30))
    expect(calls).toBe(after)
    expect(log.error).toHaveBeenCalledWith(expect.objectContaining({ loop: 'test' }), 'loop pass failed')
  })
})
