import { describe, expect, it } from 'vitest'
import { DomainError } from './errors.js'
import { firstRunAt, type ScheduleInput } from './schedule.js'

const now = new Date('2026-01-01T00:00:00Z')

function issuesOf(input: ScheduleInput) {
  try {
    firstRunAt(input, now)
  } catch (err) {
    if (err instanceof DomainError) return err.issues.map((i) => i.path)
    throw err
  }
  throw new Error('expected a refusal')
}

describe('firstRunAt', () => {
  it('is now (null) when neither is given', () => {
    expect(firstRunAt({}, now)).toBeNull()
  })

  it('takes a future instant in any zone, and a delay from now', () => {
    expect(firstRunAt({ notBefore: '2026-01-01T02:00:00.250+01:00' }, now)).toEqual(
      new Date('2026-01-01T01:00:00.250Z'),
    )
    expect(firstRunAt({ delayMs: 1500 }, now)).toEqual(new Date('2026-01-01T00:00:01.500Z'))
  })

  it.each([
    ['both', { notBefore: '2026-01-02T00:00:00Z', delayMs: 10 }, 'notBefore'],
    ['a past notBefore', { notBefore: '2025-12-31T23:59:59Z' }, 'notBefore'],
    ['notBefore exactly now', { notBefore: '2026-01-01T00:00:00Z' }, 'notBefore'],
    ['notBefore without a zone', { notBefore: '2026-01-02T00:00:00' }, 'notBefore'],
    ['notBefore as a date only', { notBefore: '2026-01-02' }, 'notBefore'],
    ['notBefore in words', { notBefore: 'tomorrow' }, 'notBefore'],
    ['notBefore over a year ahead', { notBefore: '2027-01-02T00:00:00Z' }, 'notBefore'],
    ['a zero delay', { delayMs: 0 }, 'delayMs'],
    ['a fractional delay', { delayMs: 1.5 }, 'delayMs'],
    ['a delay over a year', { delayMs: 365 * 24 * 3_600_000 + 1 }, 'delayMs'],
  ])('refuses %s, naming the field', (_name, input, path) => {
    expect(issuesOf(input)).toEqual([path])
  })
})
