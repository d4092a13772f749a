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
    ['bad base64', { body: 'not base64!', bodyEncoding: 'base64' as const }, 'body'],
    ['a body on GET', { method: 'GET' as const, body: 'x' }, 'body'],
    ['a timeout of 0', { timeoutMs: 0 }, 'timeoutMs'],
    ['a timeout over a minute', { timeoutMs: 60_001 }, 'timeoutMs'],
    ['a fractional timeout', { timeoutMs: 1.5 }, 'timeoutMs'],
  ])('refuses %s, naming the field', (_name, input, path) => {
    expect(issuesOf(input).map((i) => i.path)).toEqual([path])
  })

  it('reports every bad field at once', () => {
    expect(issuesOf({ url: 'ftp://x', timeoutMs: 0, headers: { Host: 'h' } }).map((i) => i.path)).toEqual([
      'url',
      'headers.Host',
      'timeoutMs',
    ])
  })
})
