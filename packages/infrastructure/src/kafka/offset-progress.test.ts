import { describe, expect, it } from 'vitest'
import { OffsetProgress } from './offset-progress.js'

describe('OffsetProgress', () => {
  it('commits just past the longest run of done messages from the oldest one on', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['0', '1', '2', '3'])
    progress.done('t', 0, '1')
    progress.done('t', 0, '3')
    expect(progress.takeReady()).toEqual([]) // 0 still runs: nothing may be committed past it

    progress.done('t', 0, '0')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '2' }])
    expect(progress.takeReady()).toEqual([]) // taken once

    progress.done('t', 0, '2')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '4' }])
    expect(progress.pending).toBe(0)
  })

  it('keeps partitions apart and steps over gaps in the offsets', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['5', '9'])
    progress.track('t', 1, ['0'])
    progress.done('t', 0, '5')
    progress.done('t', 0, '9')
    progress.done('t', 1, '0')
    expect(progress.takeReady()).toEqual([
      { topic: 't', partition: 0, offset: '10' },
      { topic: 't', partition: 1, offset: '1' },
    ])
  })

  it('knows a redelivered message, also one already committed past', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['0', '1'])
    progress.done('t', 0, '0')
    expect([progress.follows('t', 0, '0'), progress.follows('t', 0, '1'), progress.follows('t', 0, '2')]).toEqual([
      true,
      true,
      false,
    ])
    expect(progress.follows('t', 1, '0')).toBe(false)
    expect(() => progress.track('t', 0, ['1'])).toThrow('followed already')
  })

  it('puts back a failed commit unless a later point is ready by then', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['0', '1'])
    progress.done('t', 0, '0')
    const failed = progress.takeReady()
    progress.restore(failed)
    expect(progress.takeReady()).toEqual(failed)

    progress.done('t', 0, '1')
    progress.restore(failed)
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '2' }])
  })

  it('forgets partitions assigned elsewhere, and work finishing on them later', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['0'])
    progress.track('t', 1, ['0'])
    progress.retain({ t: [1] })
    progress.done('t', 0, '0')
    progress.done('t', 1, '0')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 1, offset: '1' }])
    expect(progress.follows('t', 0, '0')).toBe(false) // read again from its committed offset if it comes back
  })
})
