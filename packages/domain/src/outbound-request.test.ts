import { describe, expect, it } from 'vitest'
import { DomainError } from './errors.js'
import { createOutboundRequest, type OutboundRequestInput } from './outbound-request.js'

const defaults = { timeoutMs: 10_000 }
const base: OutboundRequestInput = { method: 'POST', url: 'https://api.example.com/hook' }

function issuesOf(input: Partial<OutboundRequestInput>) {
  try {
    createOutboundRequest({ ...base, ...input }, defaults)
  } catch (err) {
    if (err instanceof DomainError) return err.issues
    throw err
  }
  throw new Error('expected a refusal')
}

function manyHeaders(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']))
}

describe('createOutboundRequest', () => {
  it('keeps headers in order with repeats and encodes a utf8 body', () => {
    const req = createOutboundRequest(
      { ...base, headers: { 'X-A': '1', 'Set-Thing': ['a', 'b'] }, body: 'héllo' },
      defaults,
    )
    expect(req).toEqual({
      method: 'POST',
      url: 'https://api.example.com/hook',
      headers: [
        ['X-A', '1'],
        ['Set-Thing', 'a'],
        ['Set-Thing', 'b'],
      ],
      body: new TextEncoder().encode('héllo'),
      timeoutMs: 10_000,
    })
  })

  it('decodes a base64 body byte for byte', () => {
    const req = createOutboundRequest({ ...base, body: 'AP+Afw==', bodyEncoding: 'base64', timeoutMs: 250 }, defaults)
    expect([...(req.body ?? [])]).toEqual([0, 255, 128, 127])
    expect(req.timeoutMs).toBe(250)
  })

  it('has no body when none is given', () => {
    expect(createOutboundRequest({ method: 'GET', url: 'http://x.test/' }, defaults).body).toBeNull()
  })

  it.each([
    ['a relative URL', { url: '/relative' }, 'url'],
    ['an ftp URL', { url: 'ftp://example.com/file' }, 'url'],
    ['a javascript URL', { url: 'javascript:alert(1)' }, 'url'],
    ['a URL with credentials', { url: 'https://user:pw@example.com/' }, 'url'],
    ['a URL over 2,048 characters', { url: `https://example.com/${'a'.repeat(2100)}` }, 'url'],
    ['a header name that is no token', { headers: { 'Bad Name': 'x' } }, 'headers.Bad Name'],
    ['CR/LF in a header value', { headers: { 'X-Evil': 'a\r\nInjected: 1' } }, 'headers.X-Evil'],
    ['CR/LF in one of repeated values', { headers: { 'X-Evil': ['ok', 'a\nb'] } }, 'headers.X-Evil'],
    ['a hop-by-hop header', { headers: { Connection: 'close' } }, 'headers.Connection'],
    ['Transfer-Encoding', { headers: { 'transfer-encoding': 'chunked' } }, 'headers.transfer-encoding'],
    ['Host', { headers: { Host: 'internal' } }, 'headers.Host'],
    ['a lone UTF-16 surrogate in a header value', { headers: { X: '\ud800' } }, 'headers.X'],
    ['a header value above U+00FF', { headers: { 'X-Name': 'Łukasz' } }, 'headers.X-Name'],
    ['an emoji in a header value', { headers: { 'X-Mood': '🙂' } }, 'headers.X-Mood'],
    ['a control character in a header value', { headers: { 'X-Esc': 'a\u001bb' } }, 'headers.X-Esc'],
    ['DEL in a header value', { headers: { 'X-Del': 'a\u007fb' } }, 'headers.X-Del'],
    ['more header lines than allowed', { headers: manyHeaders(101) }, 'headers'],
    ['repeated values past the line limit', { headers: { 'X-Many': Array(101).fill('v') } }, 'headers'],
    ['header bytes past the limit', { headers: { 'X-Big': 'v'.repeat(32 * 1024) } }, 'headers'],
    ['bad base64', { body: 'not base64!', bodyEncoding: 'base64' as const }, 'body'],
    ['a body on GET', { method: 'GET' as const, body: 'x' }, 'body'],
    ['a timeout of 0', { timeoutMs: 0 }, 'timeoutMs'],
    ['a timeout over a minute', { timeoutMs: 60_001 }, 'timeoutMs'],
    ['a fractional timeout', { timeoutMs: 1.5 }, 'timeoutMs'],
  ])('refuses %s, naming the field', (_name, input, path) => {
    expect(issuesOf(input).map((i) => i.path)).toEqual([path])
  })

  it('takes header values of visible Latin-1 characters, spaces and tabs, and headers up to the limits', () => {
    const headers = { ...manyHeaders(99), 'X-Latin': 'caf\u00e9\tno\u00ebl ~' }
    const req = createOutboundRequest({ ...base, headers }, defaults)

    expect(req.headers).toHaveLength(100)
    expect(req.headers.at(-1)).toEqual(['X-Latin', 'café\tnoël ~'])
  })

  it('reads the header limits it is given', () => {
    const limits = { ...defaults, headerLimits: { maxCount: 2, maxBytes: 10 } }
    const refused = (headers: Record<string, string>) => () => createOutboundRequest({ ...base, headers }, limits)

    expect(refused({ A: '1', B: '2', C: '3' })).toThrow(DomainError)
    expect(refused({ 'X-Long': 'abcde' })).toThrow(DomainError)
    expect(createOutboundRequest({ ...base, headers: { A: '1', B: '2' } }, limits).headers).toHaveLength(2)
  })

  it('reports every bad field at once', () => {
    expect(issuesOf({ url: 'ftp://x', timeoutMs: 0, headers: { Host: 'h' } }).map((i) => i.path)).toEqual([
      'url',
      'headers.Host',
      'timeoutMs',
    ])
  })
})
