import type { ApiKey } from '../src/config.js'

/**
 * Submissions and lookups the server must refuse without storing anything. Plain data, so the same table runs
 * against the in-memory store (bad-input.test.ts) and against Postgres in an integration test: build the server
 * with `badInputServer` and expect every row's status, and zero tasks and outbox entries afterwards.
 */
export type BadInputCase = {
  name: string
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'
  url: string
  headers: Record<string, string>
  /** Sent byte for byte, so malformed JSON reaches the server as written. */
  payload?: string
  status: number
  /** The field `errors[].path` must name, for refusals that name one. */
  path?: string
  /** For a 405: the `Allow` header it must carry. */
  allow?: string
}

export const tableKey: ApiKey = { id: 'table', key: 'table-secret-key' }

export const badInputServer: { apiKeys: readonly ApiKey[]; bodyLimit: number } = {
  apiKeys: [tableKey],
  bodyLimit: 1024 * 1024,
}

const auth = { authorization: `Bearer ${tableKey.key}` }
const json = { ...auth, 'content-type': 'application/json' }
const valid = { method: 'POST', url: 'https://example.com/hook' }
const unknownId = '0190a0b0-0000-7000-8000-000000000001'

function manyHeaders(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']))
}

/** A JSON submission: the valid base with `change` applied (an `undefined` value removes the field). */
function submit(name: string, change: Record<string, unknown>, path: string): BadInputCase {
  return {
    name,
    method: 'POST',
    url: '/tasks',
    headers: json,
    payload: JSON.stringify({ ...valid, ...change }),
    status: 400,
    path,
  }
}

function raw(
  name: string,
  payload: string | undefined,
  status: number,
  headers: Record<string, string> = json,
  path?: string,
): BadInputCase {
  return {
    name,
    method: 'POST',
    url: '/tasks',
    headers,
    ...(payload !== undefined && { payload }),
    status,
    ...(path !== undefined && { path }),
  }
}

function lookup(name: string, url: string, status: number, path?: string): BadInputCase {
  return { name, method: 'GET', url, headers: auth, status, ...(path !== undefined && { path }) }
}

/** A JSON POST of `payload` to `url`, refused 400 naming `path`. */
function post(name: string, url: string, payload: unknown, path: string): BadInputCase {
  return { name, method: 'POST', url, headers: json, payload: JSON.stringify(payload), status: 400, path }
}

const batchOf = (n: number) => ({ tasks: Array.from({ length: n }, () => valid) })

export const badInputCases: readonly BadInputCase[] = [
  // The body is not a JSON object.
  raw('malformed JSON', '{"method": "GET", "url": ', 400),
  raw('empty body with a JSON content type', '', 400),
  raw('no body at all', undefined, 400, auth, ''),
  raw('a JSON array', '[]', 400, json, ''),
  raw('a JSON string', '"GET https://example.com"', 400, json, ''),
  raw('JSON null', 'null', 400, json, ''),
  raw('a __proto__ key', '{"method":"GET","url":"https://example.com","__proto__":{"x":1}}', 400),

  // method
  submit('method missing', { method: undefined }, 'method'),
  submit('method a number', { method: 1 }, 'method'),
  submit('method unknown', { method: 'FETCH' }, 'method'),
  submit('method CONNECT', { method: 'CONNECT' }, 'method'),
  submit('method in lowercase', { method: 'get' }, 'method'),

  // url
  submit('url missing', { url: undefined }, 'url'),
  submit('url a number', { url: 42 }, 'url'),
  submit('url empty', { url: '' }, 'url'),
  submit('url relative', { url: '/orders/7' }, 'url'),
  submit('url without scheme', { url: 'example.com/orders' }, 'url'),
  submit('url ftp:', { url: 'ftp://example.com/file' }, 'url'),
  submit('url javascript:', { url: 'javascript:alert(1)' }, 'url'),
  submit('url data:', { url: 'data:text/plain,hello' }, 'url'),
  submit('url file:', { url: 'file:///etc/passwd' }, 'url'),
  submit('url with credentials', { url: 'https://user:secret@example.com/' }, 'url'),
  submit('url of 3,000 characters', { url: `https://example.com/${'a'.repeat(2980)}` }, 'url'),
  // URL parsing would drop these silently and send another URL than the one given.
  submit('url with CR LF inside', { url: 'https://example.com/a\r\nb' }, 'url'),
  submit('url with a TAB inside', { url: 'https://exa\tmple.com/' }, 'url'),
  submit('url with a NUL inside', { url: 'https://example.com/\u0000' }, 'url'),
  submit('url with a leading space', { url: ' https://example.com/' }, 'url'),
  submit('url with a trailing newline', { url: 'https://example.com/\n' }, 'url'),

  // url pointing inside the network (SSRF): refused in every spelling the URL parser accepts for the address
  ...[
    '127.0.0.1',
    '127.1',
    '2130706433',
    '0x7f000001',
    '0x7f.0.0.1',
    '0177.0.0.1',
    '[::1]',
    '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]',
    '[64:ff9b::7f00:1]',
    '[::127.0.0.1]',
    '[2002:7f00:1::]',
    '10.0.0.1',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '240.0.0.1',
    '[fe80::1]',
    '[fc00::1]',
    '[fd00::1]',
    '[ff02::1]',
    '[::]',
  ].map((host) => submit(`url to ${host}`, { url: `http://${host}:8080/admin` }, 'url')),

  // headers
  submit('headers an array', { headers: [['accept', 'text/plain']] }, 'headers'),
  submit('headers a string', { headers: 'accept: text/plain' }, 'headers'),
  submit('header value a number', { headers: { 'X-Count': 3 } }, 'headers.X-Count'),
  submit('header value an object', { headers: { 'X-Obj': { a: 1 } } }, 'headers.X-Obj'),
  submit('header value array holding a number', { headers: { 'X-Tags': ['a', 2] } }, 'headers.X-Tags'),
  submit('header name with a space', { headers: { 'Bad Name': 'x' } }, 'headers.Bad Name'),
  submit('header name with a colon', { headers: { 'X:Y': 'x' } }, 'headers.X:Y'),
  submit('header name empty', { headers: { '': 'x' } }, 'headers.'),
  submit('header value with CR/LF', { headers: { 'X-Foo': 'a\r\nX-Injected: 1' } }, 'headers.X-Foo'),
  submit('header value with LF in an array', { headers: { 'X-Foo': ['ok', 'a\nb'] } }, 'headers.X-Foo'),
  submit('header value with NUL', { headers: { 'X-Foo': 'a\u0000b' } }, 'headers.X-Foo'),
  submit('header value with a lone UTF-16 surrogate', { headers: { X: '\ud800' } }, 'headers.X'),
  submit('header value above U+00FF', { headers: { 'X-Name': 'Łukasz' } }, 'headers.X-Name'),
  submit('header value with an emoji', { headers: { 'X-Mood': ['ok', '🙂'] } }, 'headers.X-Mood'),
  submit('header value with a control character', { headers: { 'X-Esc': 'a\u001bb' } }, 'headers.X-Esc'),
  submit('header value with DEL', { headers: { 'X-Del': 'a\u007f' } }, 'headers.X-Del'),
  submit('20,000 headers', { headers: manyHeaders(20_000) }, 'headers'),
  submit('header lines past the limit', { headers: manyHeaders(101) }, 'headers'),
  submit('header bytes past the limit', { headers: { 'X-Big': 'v'.repeat(40 * 1024) } }, 'headers'),
  submit('hop-by-hop Connection', { headers: { Connection: 'close' } }, 'headers.Connection'),
  submit('hop-by-hop Transfer-Encoding', { headers: { 'Transfer-Encoding': 'chunked' } }, 'headers.Transfer-Encoding'),
  submit('hop-by-hop Upgrade', { headers: { Upgrade: 'websocket' } }, 'headers.Upgrade'),
  submit('hop-by-hop Keep-Alive', { headers: { 'Keep-Alive': 'timeout=5' } }, 'headers.Keep-Alive'),
  submit('hop-by-hop TE', { headers: { TE: 'trailers' } }, 'headers.TE'),
  submit('Proxy-Authorization', { headers: { 'Proxy-Authorization': 'Basic eDp5' } }, 'headers.Proxy-Authorization'),
  submit('Host', { headers: { Host: 'internal.example' } }, 'headers.Host'),
  submit('host in lowercase', { headers: { host: 'internal.example' } }, 'headers.host'),
  submit('Content-Length', { headers: { 'Content-Length': '10' } }, 'headers.Content-Length'),

  // body and bodyEncoding
  submit('body a number', { body: 12 }, 'body'),
  submit('body true', { body: true }, 'body'),
  submit('a JSON body with base64 encoding', { body: { a: 1 }, bodyEncoding: 'base64' }, 'bodyEncoding'),
  submit('bodyEncoding unknown', { bodyEncoding: 'hex' }, 'bodyEncoding'),
  submit('bodyEncoding in uppercase', { bodyEncoding: 'UTF8' }, 'bodyEncoding'),
  submit('body not base64', { body: 'not base64!', bodyEncoding: 'base64' }, 'body'),
  submit('body base64 with a space', { body: 'YWJj ZA==', bodyEncoding: 'base64' }, 'body'),
  submit('body on GET', { method: 'GET', body: 'x' }, 'body'),
  submit('body on HEAD', { method: 'HEAD', body: 'x' }, 'body'),

  // timeoutMs
  submit('timeoutMs 0', { timeoutMs: 0 }, 'timeoutMs'),
  submit('timeoutMs negative', { timeoutMs: -5 }, 'timeoutMs'),
  submit('timeoutMs 60001', { timeoutMs: 60_001 }, 'timeoutMs'),
  submit('timeoutMs 1.5', { timeoutMs: 1.5 }, 'timeoutMs'),
  submit('timeoutMs a string', { timeoutMs: '100' }, 'timeoutMs'),
  submit('timeoutMs a boolean', { timeoutMs: true }, 'timeoutMs'),
  submit('several faults at once', { url: 'ftp://example.com', timeoutMs: 0 }, 'timeoutMs'),

  // notBefore, delayMs
  submit('notBefore in the past', { notBefore: '2020-01-01T00:00:00Z' }, 'notBefore'),
  submit('notBefore not a date-time', { notBefore: 'tomorrow' }, 'notBefore'),
  submit('notBefore without a zone', { notBefore: '2999-01-01T00:00:00' }, 'notBefore'),
  submit('notBefore a number', { notBefore: 1767225600000 }, 'notBefore'),
  submit('notBefore and delayMs both', { notBefore: '2999-01-01T00:00:00Z', delayMs: 1000 }, 'notBefore'),
  submit('delayMs 0', { delayMs: 0 }, 'delayMs'),
  submit('delayMs negative', { delayMs: -1000 }, 'delayMs'),
  submit('delayMs a string', { delayMs: '1000' }, 'delayMs'),

  // expiresAt, maxRetryDurationMs
  submit('expiresAt in the past', { expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'),
  submit('expiresAt not a date-time', { expiresAt: 'soon' }, 'expiresAt'),
  submit(
    'expiresAt and maxRetryDurationMs both',
    { expiresAt: '2999-01-01T00:00:00Z', maxRetryDurationMs: 1000 },
    'expiresAt',
  ),
  submit('maxRetryDurationMs 0', { maxRetryDurationMs: 0 }, 'maxRetryDurationMs'),
  submit('maxRetryDurationMs a string', { maxRetryDurationMs: '1000' }, 'maxRetryDurationMs'),
  submit('maxRetryDurationMs before the delay', { delayMs: 60_000, maxRetryDurationMs: 1000 }, 'maxRetryDurationMs'),

  // secretHeaders, sign, callback, failureCallback
  submit('secretHeaders a string', { secretHeaders: 'authorization' }, 'secretHeaders'),
  submit('secretHeaders with a name that is no token', { secretHeaders: ['x api key'] }, 'secretHeaders.0'),
  submit('sign a string', { sign: 'yes' }, 'sign'),
  submit('sign without a signing secret', { sign: true }, 'sign'),
  submit('callback without a signing secret', { callback: { url: 'https://example.com/cb' } }, 'callback'),
  submit('callback without url', { callback: {} }, 'callback.url'),
  submit('callback url with an ftp scheme', { callback: { url: 'ftp://example.com/cb' } }, 'callback.url'),
  submit(
    'callback header with CR LF',
    { callback: { url: 'https://example.com/cb', headers: { 'X-A': 'a\r\nb' } } },
    'callback.headers.X-A',
  ),
  submit('failureCallback url not a URL', { failureCallback: { url: 'not a url' } }, 'failureCallback.url'),

  // Idempotency-Key
  raw(
    'Idempotency-Key of 300 characters',
    JSON.stringify(valid),
    400,
    { ...json, 'idempotency-key': 'k'.repeat(300) },
    'Idempotency-Key',
  ),
  raw('Idempotency-Key empty', JSON.stringify(valid), 400, { ...json, 'idempotency-key': '' }, 'Idempotency-Key'),

  // retry
  submit('retry a string', { retry: 'always' }, 'retry'),
  submit('flowControl.key empty', { flowControl: { key: '' } }, 'flowControl.key'),
  submit('flowControl.key with a newline', { flowControl: { key: 'a\nb' } }, 'flowControl.key'),
  submit('flowControl.key of 256 characters', { flowControl: { key: 'k'.repeat(256) } }, 'flowControl.key'),
  submit('flowControl.rate 0', { flowControl: { rate: 0 } }, 'flowControl.rate'),
  submit('flowControl.parallelism 1.5', { flowControl: { parallelism: 1.5 } }, 'flowControl.parallelism'),
  submit('flowControl.burst without a rate', { flowControl: { burst: 5 } }, 'flowControl.rate'),
  submit('flowControl.rate a string', { flowControl: { rate: '50' } }, 'flowControl.rate'),
  submit('flowControl a string', { flowControl: 'https://example.com' }, 'flowControl'),
  submit('retry.maxAttempts 0', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts'),
  submit('retry.maxAttempts 101', { retry: { maxAttempts: 101 } }, 'retry.maxAttempts'),
  submit('retry.maxAttempts a string', { retry: { maxAttempts: '3' } }, 'retry.maxAttempts'),
  submit(
    'retry.backoff.baseMs above maxMs',
    { retry: { backoff: { baseMs: 2000, maxMs: 1000 } } },
    'retry.backoff.baseMs',
  ),
  submit('retry.backoff.maxMs 0', { retry: { backoff: { maxMs: 0 } } }, 'retry.backoff.maxMs'),
  submit(
    'retry.retryOn.statuses with a 2xx',
    { retry: { retryOn: { statuses: [503, 200] } } },
    'retry.retryOn.statuses',
  ),
  submit('retry.retryOn.errors unknown', { retry: { retryOn: { errors: ['oops'] } } }, 'retry.retryOn.errors.0'),
  submit('a bad retry alongside a bad url', { url: 'ftp://x', retry: { maxAttempts: 0 } }, 'retry.maxAttempts'),

  // size and media type
  raw('body over the limit', JSON.stringify({ ...valid, body: 'x'.repeat(1024 * 1024) }), 413),
  raw('text/plain', JSON.stringify(valid), 415, { ...auth, 'content-type': 'text/plain' }),
  raw('form-urlencoded', 'method=POST&url=https%3A%2F%2Fexample.com', 415, {
    ...auth,
    'content-type': 'application/x-www-form-urlencoded',
  }),
  raw('multipart', '--b\r\n\r\nx\r\n--b--', 415, { ...auth, 'content-type': 'multipart/form-data; boundary=b' }),
  raw('a JSON look-alike media type', JSON.stringify(valid), 415, { ...auth, 'content-type': 'application/jsonp' }),
  raw('a body without a content type', JSON.stringify(valid), 415, auth),

  // lookups
  lookup('id not a UUID', '/tasks/not-a-uuid', 400, 'id'),
  lookup('id a number', '/tasks/123', 400, 'id'),
  lookup('id a UUID with a trailing character', `/tasks/${unknownId}x`, 400, 'id'),
  lookup('id with SQL in it', `/tasks/${encodeURIComponent("1' or '1'='1")}`, 400, 'id'),
  lookup('legacy route, id not a UUID', '/task/nope', 400, 'id'),
  lookup('unknown id', `/tasks/${unknownId}`, 404),
  lookup('legacy route, unknown id', `/task/${unknownId}`, 404),
  lookup('unknown path', '/taskz', 404),
  // The router takes path parameters of up to 1,024 characters (a flow-control key, percent-encoded, fits).
  lookup("id past the router's length limit", `/tasks/${'a'.repeat(1_100)}`, 414),
  lookup("flow-control key past the router's length limit", `/flow-controls/${'k'.repeat(1_100)}`, 414),
  lookup('a malformed percent-escape in the path', '/tasks/%zz', 400),

  // a known path with a method it does not serve
  {
    name: 'PUT on /tasks',
    method: 'PUT',
    url: '/tasks',
    headers: json,
    payload: JSON.stringify(valid),
    status: 405,
    allow: 'GET, HEAD, POST',
  },
  {
    name: 'DELETE on /tasks/{id}',
    method: 'DELETE',
    url: `/tasks/${unknownId}`,
    headers: auth,
    status: 405,
    allow: 'GET, HEAD',
  },
  {
    name: 'PATCH on /flow-controls/{key}',
    method: 'PATCH',
    url: '/flow-controls/payments',
    headers: json,
    payload: '{}',
    status: 405,
    allow: 'GET, HEAD, PUT, DELETE',
  },
  {
    name: 'PATCH on /tasks/batch with a text body',
    method: 'PATCH',
    url: '/tasks/batch',
    headers: { ...auth, 'content-type': 'text/plain' },
    payload: 'x',
    status: 405,
    allow: 'POST',
  },

  // long-poll
  lookup('wait negative', `/tasks/${unknownId}?wait=-1`, 400, 'wait'),
  lookup('wait past 60 s', `/tasks/${unknownId}?wait=61`, 400, 'wait'),
  lookup('wait not a number', `/tasks/${unknownId}?wait=soon`, 400, 'wait'),
  lookup('wait given twice', `/tasks/${unknownId}?wait=1&wait=2`, 400, 'wait'),

  // list
  lookup('limit 0', '/tasks?limit=0', 400, 'limit'),
  lookup('limit 1001', '/tasks?limit=1001', 400, 'limit'),
  lookup('limit not a number', '/tasks?limit=ten', 400, 'limit'),
  lookup('status unknown', '/tasks?status=failed', 400, 'status.0'),
  lookup('status empty', '/tasks?status=', 400, 'status.0'),
  lookup('createdAfter not a date-time', '/tasks?createdAfter=yesterday', 400, 'createdAfter'),
  lookup('createdAfter without a zone', '/tasks?createdAfter=2026-01-01T00:00:00', 400, 'createdAfter'),
  lookup(
    'createdAfter not before createdBefore',
    '/tasks?createdAfter=2026-02-01T00:00:00Z&createdBefore=2026-01-01T00:00:00Z',
    400,
    'createdAfter',
  ),
  lookup('destination with a path', '/tasks?destination=example.com/x', 400, 'destination'),
  lookup('cursor not one of ours', '/tasks?cursor=bm90LWEtY3Vyc29y', 400, 'cursor'),
  lookup('cursor not base64 JSON', '/tasks?cursor=%7B%7D', 400, 'cursor'),

  // batch
  post('batch not an object', '/tasks/batch', [valid], ''),
  post('batch without tasks', '/tasks/batch', { items: [valid] }, 'tasks'),
  post('batch tasks not an array', '/tasks/batch', { tasks: valid }, 'tasks'),
  post('batch of no tasks', '/tasks/batch', { tasks: [] }, 'tasks'),
  post('batch of 1,001 tasks', '/tasks/batch', batchOf(1_001), 'tasks'),

  // bulk actions
  post('bulk cancel of done tasks', '/tasks/cancel', { status: ['done'] }, 'status'),
  post('bulk cancel with an unknown status', '/tasks/cancel', { status: ['gone'] }, 'status.0'),
  post('bulk cancel with a bad createdBefore', '/tasks/cancel', { createdBefore: 'now' }, 'createdBefore'),
  post('bulk cancel of a JSON array', '/tasks/cancel', [], ''),
  post('bulk retry of new tasks', '/tasks/retry', { status: ['new', 'error'] }, 'status'),
  post('bulk retry with a bad createdAfter', '/tasks/retry', { createdAfter: 20260101 }, 'createdAfter'),

  // API key
  raw('no API key', JSON.stringify(valid), 401, { 'content-type': 'application/json' }),
  raw('wrong API key', JSON.stringify(valid), 401, { 'content-type': 'application/json', authorization: 'nope' }),
  raw('wrong bearer key', JSON.stringify(valid), 401, {
    'content-type': 'application/json',
    authorization: 'Bearer nope',
  }),
  raw('empty bearer', JSON.stringify(valid), 401, { 'content-type': 'application/json', authorization: 'Bearer ' }),
  raw('basic credentials', JSON.stringify(valid), 401, {
    'content-type': 'application/json',
    authorization: `Basic ${btoa(`table:${tableKey.key}`)}`,
  }),
  raw('no API key and malformed JSON: the key is checked first', '{', 401, { 'content-type': 'application/json' }),
  { name: 'lookup without an API key', method: 'GET', url: `/tasks/${unknownId}`, headers: {}, status: 401 },
]
