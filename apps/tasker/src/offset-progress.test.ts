import { describe, expect, it } from 'vitest'
import { OffsetProgress } from './offset-progress.js'

describe('OffsetProgress', () => {
  it('commits just past the longest run of done messages from the oldest one on', () => {
    const progress = new OffsetProgress()
    const tracked = progress.track('t', 0, ['0', '1', '2', '3'])
    tracked.done('1')
    tracked.done('3')
    expect(progress.takeReady()).toEqual([]) // 0 still runs: nothing may be committed past it

    tracked.done('0')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '2' }])
    expect(progress.takeReady()).toEqual([]) // taken once

    tracked.done('2')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '4' }])
    expect(progress.pending).toBe(0)
  })

  it('keeps partitions apart and steps over gaps in the offsets', () => {
    const progress = new OffsetProgress()
    const zero = progress.track('t', 0, ['5', '9'])
    const one = progress.track('t', 1, ['0'])
    zero.done('5')
    zero.done('9')
    one.done('0')
    expect(progress.takeReady()).toEqual([
      { topic: 't', partition: 0, offset: '10' },
      { topic: 't', partition: 1, offset: '1' },
    ])
  })

  it('knows a redelivered message, also one already committed past', () => {
    const progress = new OffsetProgress()
    progress.track('t', 0, ['0', '1']).done('0')
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
    const tracked = progress.track('t', 0, ['0', '1'])
    tracked.done('0')
    const failed = progress.takeReady()
    progress.restore(failed)
    expect(progress.takeReady()).toEqual(failed)

    tracked.done('1')
    progress.restore(failed)
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '2' }])
  })

  it('forgets partitions assigned elsewhere, and work finishing on them later', () => {
    const progress = new OffsetProgress()
    const zero = progress.track('t', 0, ['0'])
    const one = progress.track('t', 1, ['0'])
    progress.retain({ t: [1] })
    zero.done('0')
    one.done('0')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 1, offset: '1' }])
    expect(progress.follows('t', 0, '0')).toBe(false) // read again from its committed offset if it comes back
  })

  it('tells a partition that started over from a redelivery: below its first offset, or below a commit', () => {
    const progress = new OffsetProgress()
    const tracked = progress.track('t', 0, ['100', '101', '102'])
    // 1. A redelivery starts where the last commit did, or later: never below the first offset this member read.
    expect(progress.rewound('t', 0, '100')).toBe(false)
    expect(progress.rewound('t', 0, '99')).toBe(true)
    // 2. Once the broker took a commit at 102, nothing below it can come again but by starting over.
    tracked.done('100')
    tracked.done('101')
    progress.committed(progress.takeReady())
    expect(progress.rewound('t', 0, '101')).toBe(true)
    expect(progress.rewound('t', 0, '102')).toBe(false)
    expect(progress.rewound('t', 1, '0')).toBe(false) // a partition not followed has nothing to compare with
  })

  it('reads a rewound partition afresh, and work still running on its old messages commits nothing new', () => {
    const progress = new OffsetProgress()
    const old = progress.track('t', 0, ['5', '6'])
    old.done('5')
    progress.committed(progress.takeReady())

    // 1. The topic was recreated: offsets start at 0 again, messages the old state would call redeliveries.
    expect(progress.rewound('t', 0, '0')).toBe(true)
    progress.forget('t', 0)
    expect(progress.follows('t', 0, '0')).toBe(false)
    const fresh = progress.track('t', 0, ['0', '1', '6'])

    // 2. The old message at offset 6 ends now: it must not mark the new message at offset 6 done.
    old.done('6')
    fresh.done('0')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '1' }])
    fresh.done('1')
    expect(progress.takeReady()).toEqual([{ topic: 't', partition: 0, offset: '2' }])
  })
})
