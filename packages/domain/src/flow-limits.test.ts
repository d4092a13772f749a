import { describe, expect, it } from 'vitest'
import { checkFlowKey, createFlowLimits } from './flow-limits.js'

describe('createFlowLimits', () => {
  it('takes any subset of the limits, the period defaulting to a second', () => {
    expect(createFlowLimits({ rate: 50 })).toEqual({ rate: 50, periodMs: 1000, burst: null, parallelism: null })
    expect(createFlowLimits({ parallelism: 5 })).toEqual({ rate: null, periodMs: 1000, burst: null, parallelism: 5 })
    expect(createFlowLimits({ rate: 600, periodMs: 60_000, burst: 10 })).toMatchObject({ periodMs: 60_000, burst: 10 })
  })

  it('names every bad part at once, under the prefix it is given', () => {
    expect(() => createFlowLimits({ rate: 0, parallelism: 1.5, burst: 3 }, 'flowControl.')).toThrow(
      expect.objectContaining({
        code: 'invalid-request',
        issues: [
          { path: 'flowControl.rate', message: 'must be an integer from 1 to 1,000,000' },
          { path: 'flowControl.parallelism', message: 'must be an integer from 1 to 10,000' },
        ],
      }),
    )
    expect(() => createFlowLimits({ burst: 3 })).toThrow(
      expect.objectContaining({
        issues: [{ path: 'rate', message: 'is needed with periodMs or burst: they shape a rate' }],
      }),
    )
  })
})

describe('checkFlowKey', () => {
  it.each([
    ['', 'must be 1 to 255 characters'],
    ['x'.repeat(256), 'must be 1 to 255 characters'],
    ['a\nb', 'must be printable text, without control characters'],
    ['\ud800', 'must be printable text, without control characters'],
  ])('refuses %j', (key, message) => {
    expect(checkFlowKey(key, 'flowControl.')).toEqual([{ path: 'flowControl.key', message }])
  })

  it("takes an origin or any name of the owner's choosing", () => {
    expect(checkFlowKey('https://api.example.com:8443')).toEqual([])
    expect(checkFlowKey('billing provider (all hosts)')).toEqual([])
  })
})
