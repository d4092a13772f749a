// W3C Trace Context (https://www.w3.org/TR/trace-context/): `00-<trace id>-<parent id>-<flags>`, lower-case hex.
// A task keeps the traceparent it was submitted with, or one started for it, and each attempt is sent as a span of
// its own within that trace.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZEROS = /^0+$/

/** The given traceparent when it is a valid version-00 one (an all-zero trace or parent id is not), else null. */
export function parseTraceparent(value: string | undefined): string | null {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim())
  if (!match || ZEROS.test(match[1] as string) || ZEROS.test(match[2] as string)) return null
  return match[0]
}

/** A new trace, sampled: for a task submitted without a traceparent. `randomHex(n)` gives n random hex digits. */
export function startTrace(randomHex: (digits: number) => string): string {
  return `00-${nonZero(randomHex, 32)}-${nonZero(randomHex, 16)}-01`
}

/** The traceparent of a span under `parent`: the same trace and flags, a new parent id. */
export function childSpan(parent: string, randomHex: (digits: number) => string): string {
  const [version, traceId, , flags] = parent.split('-')
  return `${version}-${traceId}-${nonZero(randomHex, 16)}-${flags}`
}

function nonZero(randomHex: (digits: number) => string, digits: number): string {
  const hex = randomHex(digits)
  return ZEROS.test(hex) ? `${hex.slice(0, -1)}1` : hex
}
