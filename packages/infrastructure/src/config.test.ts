import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { numericSettingsOf, parseEnv, sharedEnv } from './config.js'

const required = { DATABASE_URL: 'postgres://localhost:5432/tasks', KAFKA_BROKERS: 'localhost:9092' }

describe('sharedEnv', () => {
  it('bounds every numeric setting on both sides', () => {
    const unbounded = numericSettingsOf(sharedEnv).filter(({ min, max }) => min === null || max === null)

    expect(unbounded).toEqual([])
  })

  it.each([
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_POOL_MAX', '1001'],
  ])('refuses %s=%s at boot, naming it', (name, value) => {
    expect(() => parseEnv(sharedEnv, { ...required, [name]: value })).toThrow(
      new RegExp(`^invalid configuration:\\n  ${name}:`),
    )
  })
})

describe('numericSettingsOf', () => {
  it('finds numbers behind defaults and coercion, and says which bound is missing', () => {
    const schema = z.object({
      A: z.coerce.number().int().min(1).max(9).default(2),
      B: z.coerce.number().int().min(0).default(1),
      C: z.string().default('x'),
    })

    expect(numericSettingsOf(schema)).toEqual([
      { name: 'A', min: 1, max: 9 },
      { name: 'B', min: 0, max: null },
    ])
  })
})
