import { type FieldIssue, invalidRequest } from './errors.js'

export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const
export type HttpMethod = (typeof METHODS)[number]
export const MAX_URL_LENGTH = 2048
export const MAX_TIMEOUT_MS = 60_000

/** Header lines in the order given; a name may repeat (two Set-Cookie, say). */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>

/** The HTTP request a task sends, validated once and immutable afterwards. */
export type OutboundRequest = {
  readonly method: HttpMethod
  readonly url: string
  readonly headers: HeaderList
  readonly body: Uint8Array | null
  readonly timeoutMs: number
}

/** What a client describes, already shaped by the edge's schema but not yet checked against our rules. */
export type OutboundRequestInput = {
  method: HttpMethod
  url: string
  headers?: Record<string, string | readonly string[]>
  body?: string
  bodyEncoding?: 'utf8' | 'base64'
  timeoutMs?: number
}

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
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

export function createOutboundRequest(input: OutboundRequestInput, defaults: { timeoutMs: number }): OutboundRequest {
  const issues: FieldIssue[] = []
  const url = checkUrl(input.url, issues)
  const headers = checkHeaders(input.headers ?? {}, issues)
  const body = decodeBody(input.body, input.bodyEncoding ?? 'utf8', issues)
  if (body !== null && body.length > 0 && (input.method === 'GET' || input.method === 'HEAD')) {
    issues.push({ path: 'body', message: `a ${input.method} request cannot carry a body` })
  }
  const timeoutMs = input.timeoutMs ?? defaults.timeoutMs
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    issues.push({ path: 'timeoutMs', message: `must be an integer from 1 to ${MAX_TIMEOUT_MS}` })
  }
  if (issues.length > 0) throw invalidRequest(issues)
  return { method: input.method, url, headers, body, timeoutMs }
}

function checkUrl(raw: string, issues: FieldIssue[]): string {
  if (raw.length > MAX_URL_LENGTH) {
    issues.push({ path: 'url', message: `must be at most ${MAX_URL_LENGTH} characters` })
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

function checkHeaders(raw: Record<string, string | readonly string[]>, issues: FieldIssue[]): HeaderList {
  const list: Array<readonly [string, string]> = []
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
      else list.push([name, v])
    }
  }
  return list
}

function decodeBody(raw: string | undefined, encoding: 'utf8' | 'base64', issues: FieldIssue[]): Uint8Array | null {
  if (raw === undefined) return null
  if (encoding === 'utf8') return new TextEncoder().encode(raw)
  if (!BASE64.test(raw)) {
    issues.push({ path: 'body', message: 'is not valid base64' })
    return null
  }
  return Uint8Array.from(atob(raw), (c) => c.charCodeAt(0))
}
