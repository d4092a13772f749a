import { describe, expect, it } from 'vitest'
import { cachedProbe } from './cached-probe.js'

function countingProbe() {
  const state = { runs: 0, release: (_: string) => {} }
  const probe = () =>
    new Promise<string>((resolve) => {
      state.runs++
      state.release = resolve
    })
  return { state, probe }
}

describe('cachedProbe', () => {
  it('runs the probe once for every caller that asks while it runs', async () => {
    const { state, probe } = countingProbe()
    const cached = cachedProbe(probe, 1_000, () => 0)

    const answers = Promise.all([cached(), cached(), cached()])
    state.release('ok')

    expect(await answers).toEqual(['ok', 'ok', 'ok'])
    expect(state.runs).toBe(1)
  })

  it('answers the last result until it is ttlMs old, then runs again', async () => {
    const { state, probe } = countingProbe()
    let clock = 0
    const cached = cachedProbe(probe, 1_000, () => clock)
    const first = cached()
    state.release('first')
    await first

    clock = 999
    expect(await cached()).toBe('first')
    clock = 1_000
    const second = cached()
    state.release('second')

    expect(await second).toBe('second')
    expect(state.runs).toBe(2)
  })

  it('does not keep a probe that threw: the next call runs it again', async () => {
    let runs = 0
    const cached = cachedProbe(
      async () => {
        runs++
        if (runs === 1) throw new Error('boom')
        return 'ok'
      },
      1_000,
      () => 0,
    )

    await expect(cached()).rejects.toThrow('boom')
    expect(await cached()).toBe('ok')
  })
})
