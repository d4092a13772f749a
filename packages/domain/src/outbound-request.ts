import { type FieldIssue, invalidRequest } from './errors.js'

export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const
export type HttpMethod = (typeof METHODS)[number]
export const MAX_URL_LENGTH = 2048
export const MAX_TIMEOUT_MS = 60_000

/** How many header lines (a repeated name counts once per value) and bytes (names and values) a task may carry. */
export type HeaderLimits = { readonly maxCount: number; readonly maxBytes: number }
export const DEFAULT_HEADER_LIMITS: HeaderLimits = { maxCount: 100, maxBytes: 32 * 1024 }

/** Header lines in the order given; a name may repeat (two Set-Cookie, say). */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>

/** The HTTP request a task sends, validated once and immutable afterwards. */
export type OutboundRequest = {
  readonly method: HttpMethod
  readonly url: string
  readonly headers: HeaderList
  readonly body: Uint8Array | null
  readonly timeoutMs: number
  /**
   * Names (lower case) of the headers whose values are secret: stored encrypted, never shown, logged or dead-lettered.
   * Absent: none but those always secret (see secretHeaderNames).
   */
  readonly secretHeaders?: readonly string[]
}

/** Headers whose values are secret whatever the client says: credentials. */
export const ALWAYS_SECRET_HEADERS = ['authorization', 'cookie', 'proxy-authorization'] as const
export const MAX_SECRET_HEADERS = 100

/** The names (lower case) of `headers` whose values are secret: the ones always secret and those the client marked. */
export function secretHeaderNames(headers: HeaderList, marked: readonly string[] = []): string[] {
  const secret = new Set<string>([...ALWAYS_SECRET_HEADERS, ...marked.map((n) => n.toLowerCase())])
  return [...new Set(headers.map(([name]) => name.toLowerCase()).filter((name) => secret.has(name)))]
}

/** What a secret shows where it must be named: its length hidden, never its value. */
export const MASKED = '********'

/** What a client describes, already shaped by the edge's schema but not yet checked against our rules. */
export type OutboundRequestInput = {
  method: HttpMethod
  url: string
  headers?: Record<string, string | readonly string[]>
  body?: string
  bodyEncoding?: 'utf8' | 'base64'
  timeoutMs?: number
  /** Header names whose values are secret besides those always secret (ALWAYS_SECRET_HEADERS). */
  secretHeaders?: readonly string[]
}

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// RFC 9110 field-value characters: visible ASCII, space, tab and obs-text (0x80-0xFF), one byte each on the wire.
// Anything else (a control character, a code point above U+00FF, a lone UTF-16 surrogate) cannot be sent as it is
// and, for a lone surrogate, cannot even be stored as JSON in Postgres.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
// Connection-scoped headers belong to our hop, not the caller's; Host and Content-Length follow from the URL and body.
const REFUSED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
])

export function createOutboundRequest(
  input: OutboundRequestInput,
  defaults: { timeoutMs: number; headerLimits?: HeaderLimits },
): OutboundRequest {
  const issues: FieldIssue[] = []
  const url = checkUrl(input.url, issues)
  const headers = checkHeaders(input.headers ?? {}, defaults.headerLimits ?? DEFAULT_HEADER_LIMITS, issues)
  const body = decodeBody(input.body, input.bodyEncoding ?? 'utf8', issues)
  if (body !== null && body.length > 0 && (input.method === 'GET' || input.method === 'HEAD')) {
    issues.push({ path: 'body', message: `a ${input.method} request cannot carry a body` })
  }
  const timeoutMs = input.timeoutMs ?? defaults.timeoutMs
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    issues.push({ path: 'timeoutMs', message: `must be an integer from 1 to ${MAX_TIMEOUT_MS}` })
  }
  const marked = input.secretHeaders ?? []
  if (marked.length > MAX_SECRET_HEADERS) {
    issues.push({ path: 'secretHeaders', message: `must name at most ${MAX_SECRET_HEADERS} headers` })
  }
  marked.forEach((name, i) => {
    if (!TOKEN.test(name)) issues.push({ path: `secretHeaders.${i}`, message: 'header name must be an HTTP token' })
  })
  if (issues.length > 0) throw invalidRequest(issues)
  const secretHeaders = secretHeaderNames(headers, marked)
  return { method: input.method, url, headers, body, timeoutMs, ...(secretHeaders.length > 0 && { secretHeaders }) }
}

function checkUrl(raw: string, issues: FieldIssue[]): string {
  if (raw.length > MAX_URL_LENGTH) {
    issues.push({ path: 'url', message: `must be at most ${MAX_URL_LENGTH} characters` })
    return raw
  }
  // WHATWG parsing drops CR, LF and TAB anywhere and trims control characters and spaces at the ends: the URL
  // sent would not be the one given. Refused, so what a client reads back is what it wrote.
  if ([...raw].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) || raw.trim() !== raw) {
    issues.push({ path: 'url', message: 'must not contain control characters (CR, LF, TAB, …) or end in spaces' })
    return raw
  }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    issues.push({ path: 'url', message: 'must be an absolute http or https URL' })
    return raw
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    issues.push({ path: 'url', message: `scheme ${url.protocol} is not allowed; use http or https` })
  } else if (url.username !== '' || url.password !== '') {
    issues.push({ path: 'url', message: 'must not carry credentials; send an Authorization header instead' })
  }
  return url.href
}

function checkHeaders(
  raw: Record<string, string | readonly string[]>,
  limits: HeaderLimits,
  issues: FieldIssue[],
): HeaderList {
  // Counted before any value is read, so 20,000 headers cost one issue, not 20,000.
  const values = Object.values(raw)
  const count = values.reduce<number>((n, v) => n + (typeof v === 'string' ? 1 : v.length), 0)
  if (count > limits.maxCount) {
    issues.push({ path: 'headers', message: `must be at most ${limits.maxCount} header lines, not ${count}` })
    return []
  }
  const list: Array<readonly [string, string]> = []
  let bytes = 0
  for (const [name, value] of Object.entries(raw)) {
    const path = `headers.${name}`
    if (!TOKEN.test(name)) {
      issues.push({ path, message: 'header name must be an HTTP token' })
      continue
    }
    if (REFUSED_HEADERS.has(name.toLowerCase())) {
      issues.push({ path, message: `header ${name} is set by the sender and cannot be given` })
      continue
    }
    for (const v of typeof value === 'string' ? [value] : value) {
      if (/[\r\n\0]/.test(v)) issues.push({ path, message: 'header value must not contain CR, LF or NUL' })
      else if (!FIELD_VALUE.test(v)) issues.push({ path, message: FIELD_VALUE_MESSAGE })
      else list.push([name, v])
      bytes += name.length + v.length
    }
  }
  if (bytes > limits.maxBytes) {
    issues.push({ path: 'headers', message: `names and values must be at most ${limits.maxBytes} bytes, not ${bytes}` })
  }
  return list
}

const FIELD_VALUE_MESSAGE =
  'header value may hold only visible characters, spaces and tabs from U+0020 to U+00FF (no control characters)'

function decodeBody(raw: string | undefined, encoding: 'utf8' | 'base64', issues: FieldIssue[]): Uint8Array | null {
  if (raw === undefined) return null
  if (encoding === 'utf8') return new TextEncoder().encode(raw)
  if (!BASE64.test(raw)) {
    issues.push({ path: 'body', message: 'is not valid base64' })
    return null
  }
  // A plain loop: Uint8Array.from(string, fn) walks the string as an iterator, a string per character.
  const binary = atob(raw)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
