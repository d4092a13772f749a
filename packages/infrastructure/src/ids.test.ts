import { describe, expect, it } from 'vitest'
import { uuidV7Ids } from './ids.js'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('uuidV7Ids', () => {
  it('makes distinct version-7 ids that increase, past a refill of the random pool', () => {
    const newId = uuidV7Ids()
    const ids = Array.from({ length: 1_000 }, () => newId())

    expect(ids.filter((id) => !V7.test(id))).toEqual([])
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
  })

  it('starts each id with the current time in milliseconds', () => {
    const before = Date.now()
    const id = uuidV7Ids()()
    const msecs = Number.parseInt(id.replace('-', '').slice(0, 12), 16)

    expect(msecs).toBeGreaterThanOrEqual(before)
    expect(msecs).toBeLessThanOrEqual(Date.now())
  })
})
