import { describe, expect, it } from 'vitest'
import { childSpan, parseTraceparent, startTrace } from './trace-context.js'

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
const digits = (hex: string) => (n: number) => hex.repeat(n).slice(0, n)

describe('parseTraceparent', () => {
  it('keeps a valid version-00 traceparent', () => {
    expect(parseTraceparent(VALID)).toBe(VALID)
    expect(parseTraceparent(` ${VALID} `)).toBe(VALID)
  })

  it.each([
    ['absent', undefined],
    ['upper-case hex', VALID.toUpperCase()],
    ['another version', VALID.replace(/^00/, '01')],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['a short trace id', '00-4bf92f35-00f067aa0ba902b7-01'],
    ['text', 'trace me'],
  ])('reads %s as none', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull()
  })
})

describe('startTrace and childSpan', () => {
  it('starts a sampled trace from random digits, never an all-zero id', () => {
    expect(startTrace(digits('a'))).toBe(`00-${'a'.repeat(32)}-${'a'.repeat(16)}-01`)
    expect(parseTraceparent(startTrace(digits('0')))).not.toBeNull()
  })

  it('keeps the trace id and flags of the parent and gives the span a new parent id', () => {
    expect(childSpan(VALID, digits('b'))).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${'b'.repeat(16)}-01`)
  })
})
