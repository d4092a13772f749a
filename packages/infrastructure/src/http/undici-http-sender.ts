import { randomBytes } from 'node:crypto'
import type { HttpSender, SendContext } from '@request-tasker/application'
import {
  childSpan,
  type HeaderList,
  type OutboundRequest,
  type SendErrorCode,
  type SendOutcome,
} from '@request-tasker/domain'
import type { Logger } from 'pino'
import { Agent, type Dispatcher } from 'undici'
import { isSealed, type SecretBox, SecretKeyMissing } from '../secrets/secret-box.js'
import { guardedConnector, TargetBlocked } from './guarded-connector.js'
import { type AddressPolicy, EMPTY_ALLOWLIST, targetPolicy } from './target-policy.js'

export type UndiciHttpSenderOptions = {
  /** Body bytes kept in the result; the rest is counted, not stored. */
  resultBodyMaxBytes?: number
  /** A response longer than this is cut off and recorded as `too_large`. */
  responseMaxBytes?: number
  /** Keep-alive connections per origin: a slow third party holds at most this many sockets. */
  connections?: number
  /** How long a TCP/TLS connect may take before it counts as `connect` (see `classify`). */
  connectTimeoutMs?: number
  /** Which addresses may be reached; by default only public unicast ones (see target-policy.ts). */
  targets?: AddressPolicy
  /**
   * Replaces the agent (a proxy agent, say); `close()` then leaves it open for its owner. `targets` is then not
   * applied at connect time: the proxy, not this process, resolves and connects.
   */
  dispatcher?: Dispatcher
  /** Where a refused target's resolved address is told, since the task's owner is not told it. */
  log?: Pick<Logger, 'warn'>
  /** Opens secret header values, stored sealed: only here, on the way to the wire, are they in clear. */
  secrets?: SecretBox
  /**
   * Sends each attempt as a span of its task's trace (`traceparent`: the task's trace id, a new parent id), unless
   * the task's own headers carry a traceparent. On by default; false sends the task's headers alone.
   */
  traceparentOutbound?: boolean
}

export type ClosableHttpSender = HttpSender & { close(): Promise<void> }

export function undiciHttpSender({
  resultBodyMaxBytes = 64 * 1024,
  responseMaxBytes = 10 * 1024 * 1024,
  connections = 50,
  connectTimeoutMs = 10_000,
  targets = targetPolicy({ guard: true, allowlist: EMPTY_ALLOWLIST }),
  dispatcher,
  log,
  secrets,
  traceparentOutbound = true,
}: UndiciHttpSenderOptions = {}): ClosableHttpSender {
  // One agent for every send, so sockets to an origin are reused across tasks. No pipelining: one slow
  // response must not hold up the requests queued behind it on the same socket.
  const agent =
    dispatcher ?? new Agent({ connections, pipelining: 1, connect: guardedConnector(targets, connectTimeoutMs) })

  async function send(request: OutboundRequest, context?: SendContext): Promise<SendOutcome> {
    const started = performance.now()
    const elapsed = () => Math.round(performance.now() - started)
    const fail = (code: SendErrorCode, message: string): SendOutcome => ({
      kind: 'failure',
      error: { code, message },
      durationMs: elapsed(),
    })
    let headers: string[]
    try {
      const traceparent = traceparentOutbound ? (context?.traceparent ?? null) : null
      headers = wireHeaders(withTrace(request.headers, traceparent), secrets)
    } catch (err) {
      // The message names the key, never the value.
      if (err instanceof SecretKeyMissing)
        return fail('unknown', `a secret header could not be decrypted: ${err.message}`)
      throw err
    }
    try {
      const url = new URL(request.url)
      // Redirects are not followed (undici follows none without its redirect interceptor): a 3xx is the answer.
      const res = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers, // a flat [name, value, …] list keeps repeated names as separate lines
        body: request.body,
        // One deadline for connect, headers and body; the undici timers only back it up.
        signal: AbortSignal.timeout(request.timeoutMs),
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
        responseHeaders: 'raw',
      })

      const answered = pairsOf(res.headers as unknown as string[])
      const declared = Number(answered.find(([name]) => name === 'content-length')?.[1] ?? Number.NaN)
      if (request.method !== 'HEAD' && declared > responseMaxBytes) {
        res.body.destroy()
        return fail('too_large', `response declares ${declared} bytes, over the ${responseMaxBytes}-byte limit`)
      }
      // Streamed: only the stored prefix is held in memory, however long the body is.
      const kept: Buffer[] = []
      let keptBytes = 0
      let length = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        length += chunk.length
        if (length > responseMaxBytes) {
          res.body.destroy() // drops the socket: the rest of the body is never read
          return fail('too_large', `response body exceeds the ${responseMaxBytes}-byte limit`)
        }
        if (keptBytes < resultBodyMaxBytes) {
          const part = chunk.subarray(0, resultBodyMaxBytes - keptBytes)
          kept.push(part)
          keptBytes += part.length
        }
      }
      return {
        kind: 'response',
        httpStatusCode: res.statusCode,
        headers: answered,
        length,
        body: asBytes(Buffer.concat(kept, keptBytes)),
        bodyTruncated: length > keptBytes,
        durationMs: elapsed(),
      }
    } catch (err) {
      const blocked = rootOf(err)
      if (blocked instanceof TargetBlocked) {
        const { host, address, range } = blocked
        log?.warn({ host, address, range, traceparent: context?.traceparent ?? undefined }, 'target address refused')
      }
      const { code, message } = classify(err, request)
      return fail(code, message)
    }
  }

  return {
    send,
    async close() {
      if (!dispatcher) await agent.close()
    },
  }
}

/** Header lines, flat, with sealed values opened (a sealed value without a box cannot be sent). */
function wireHeaders(headers: HeaderList, secrets: SecretBox | undefined): string[] {
  const flat: string[] = []
  for (const [name, value] of headers) {
    if (!isSealed(value)) flat.push(name, value)
    else if (secrets) flat.push(name, secrets.open(value))
    else throw new SecretKeyMissing('(none: the sender has no SECRETS_KEYS)')
  }
  return flat
}

const randomHex = (digits: number) =>
  randomBytes(Math.ceil(digits / 2))
    .toString('hex')
    .slice(0, digits)

/** The task's headers, and a traceparent of this attempt's own span unless the task names one itself. */
function withTrace(headers: HeaderList, traceparent: string | null): HeaderList {
  if (traceparent === null || headers.some(([name]) => name.toLowerCase() === 'traceparent')) return headers
  return [...headers, ['traceparent', childSpan(traceparent, randomHex)]]
}

// A plain Uint8Array over the Buffer's memory, not a copy of it.
const asBytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

// With `responseHeaders: 'raw'` undici hands over [name, value, name, value, …] as received, repeats included.
function pairsOf(raw: string[]): HeaderList {
  const pairs: Array<readonly [string, string]> = []
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!])
  return pairs
}

type NodeError = Error & { code?: string; errors?: unknown[] }

/**
 * Maps what went wrong to a stable code. `timeout` always means the task's own `timeoutMs` ran out; a connect
 * that the agent gave up on sooner (`connectTimeoutMs`) is `connect`, as the host never took the connection.
 */
function classify(err: unknown, request: OutboundRequest): { code: SendErrorCode; message: string } {
  const e = rootOf(err)
  const code = e.code ?? ''
  const host = hostOf(request.url)
  if (code === 'ERR_TARGET_BLOCKED') return { code: 'blocked', message: e.message }
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || code === 'UND_ERR_ABORTED') {
    return { code: 'timeout', message: `no complete response within ${request.timeoutMs} ms` }
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return { code: 'timeout', message: `no complete response within ${request.timeoutMs} ms` }
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' || code === 'EAI_FAIL') {
    return { code: 'dns', message: `could not resolve ${host} (${code})` }
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { code: 'connect', message: `connecting to ${host} timed out` }
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT'].includes(code)) {
    return { code: 'connect', message: `could not connect to ${host} (${code})` }
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|^ERR_TLS_|^ERR_SSL_|^EPROTO$/.test(code)) {
    return { code: 'tls', message: `TLS with ${host} failed: ${e.message}` }
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') {
    return { code: 'reset', message: `connection to ${host} was closed mid-exchange` }
  }
  if (code === 'UND_ERR_HEADERS_OVERFLOW') return { code: 'too_large', message: 'response headers are too large' }
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
    return { code: 'protocol', message: `invalid HTTP response from ${host}: ${e.message}` }
  }
  return { code: 'unknown', message: e.message.slice(0, 200) || 'send failed' }
}

// Happy-eyeballs connects fail with an AggregateError (one error per address); the first one names the cause.
function rootOf(err: unknown): NodeError {
  let e: unknown = err
  for (let depth = 0; depth < 5; depth++) {
    const current = e as NodeError
    if (current?.code) break
    if (Array.isArray(current?.errors) && current.errors.length > 0) e = current.errors[0]
    else if (current instanceof Error && current.cause) e = current.cause
    else break
  }
  return e instanceof Error ? (e as NodeError) : new Error(String(e))
}

function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}
