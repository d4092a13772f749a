import { type FieldIssue, invalidRequest } from './errors.js'
import type { FlowLimits } from './flow-control.js'

export const MAX_FLOW_KEY_LENGTH = 255
export const MAX_FLOW_RATE = 1_000_000
export const MAX_FLOW_PERIOD_MS = 24 * 60 * 60 * 1000
export const MAX_FLOW_PARALLELISM = 10_000

/** What a client may set for a key: each part absent (or null) takes the deployment's default. */
export type FlowLimitsInput = {
  rate?: number | null
  periodMs?: number | null
  burst?: number | null
  parallelism?: number | null
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * A key names a destination within its owner's keys: printable, 1 to 255 characters. `at` prefixes the field
 * names of the issues (`flowControl.` inside a submission, nothing for the flow-control routes).
 */
export function checkFlowKey(key: string, at = ''): FieldIssue[] {
  if (key.length < 1 || key.length > MAX_FLOW_KEY_LENGTH) {
    return [{ path: `${at}key`, message: `must be 1 to ${MAX_FLOW_KEY_LENGTH} characters` }]
  }
  if (CONTROL.test(key) || LONE_SURROGATE.test(key)) {
    return [{ path: `${at}key`, message: 'must be printable text, without control characters' }]
  }
  return []
}

/** Checks every part and names each bad one; a `burst` needs a `rate`, and a `periodMs` is the rate's period. */
export function createFlowLimits(input: FlowLimitsInput, at = ''): FlowLimits {
  const issues: FieldIssue[] = []
  const whole = (name: keyof FlowLimitsInput, max: number) => {
    const value = input[name]
    if (value === undefined || value === null) return null
    if (!Number.isInteger(value) || value < 1 || value > max) {
      issues.push({ path: `${at}${name}`, message: `must be an integer from 1 to ${max.toLocaleString('en-US')}` })
      return null
    }
    return value
  }
  const rate = whole('rate', MAX_FLOW_RATE)
  const periodMs = whole('periodMs', MAX_FLOW_PERIOD_MS)
  const burst = whole('burst', MAX_FLOW_RATE)
  const parallelism = whole('parallelism', MAX_FLOW_PARALLELISM)
  if (input.rate == null && (input.burst != null || input.periodMs != null)) {
    issues.push({ path: `${at}rate`, message: 'is needed with periodMs or burst: they shape a rate' })
  }
  if (issues.length > 0) throw invalidRequest(issues)
  return { rate, periodMs: periodMs ?? 1000, burst, parallelism }
}

/** Whether a submission set any limit for its key (rather than only naming it). */
export function setsLimits(input: FlowLimitsInput): boolean {
  return [input.rate, input.periodMs, input.burst, input.parallelism].some((v) => v !== undefined && v !== null)
}

/** A submission's `flowControl`: the key its task counts against (its origin when null), and optional limits. */
export type FlowControlInput = FlowLimitsInput & { key: string | null }
