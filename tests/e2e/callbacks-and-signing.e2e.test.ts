import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Webhook } from 'standardwebhooks'
import { beforeAll, describe, expect, it } from 'vitest'
import type { AppProcess, ServerProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import type { ReceivedRequest } from '../support/target-server.js'
import type { TaskApi, TaskJson } from '../support/task-api.js'

// Callbacks and signed requests with real processes: a receiver verifies every signature with the standardwebhooks
// package, as a client's receiver would; a callback target that fails at first gets its callback later; and no
// secret (a credential header, a signing secret) is ever found in clear in the database, the apps' logs, or any
// answer a client got.
const e2e = useE2e('callbacks-and-signing')
const SECRETS_KEYS = `k1:${randomBytes(32).toString('base64')}`
let server: ServerProcess
let tasker: AppProcess
let api: TaskApi
let secret: string
const clients: TaskApi[] = []

beforeAll(async () => {
  // Callbacks take the server's retry defaults: short ones here, so a failing receiver is retried within a second.
  server = await e2e.startServer({ SECRETS_KEYS, RETRY_BASE_MS: '100', RETRY_MAX_MS: '300' })
  tasker = await e2e.startTasker({ SECRETS_KEYS, SCHEDULE_INTERVAL_MS: '50' })
  api = e2e.api(server)
  clients.push(api)
  const created = await api.createSigningSecret()
  expect(created.status).toBe(201)
  secret = created.json.secret
})

const headersOf = (req: ReceivedRequest) => {
  const headers: Record<string, string> = {}
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!
  return headers
}
/** What the standardwebhooks package makes of a request: the verified payload, or it throws. */
const verified = (req: ReceivedRequest, withSecret = secret) =>
  new Webhook(withSecret).verify(req.body.toString('utf8'), headersOf(req)) as Record<string, unknown>

async function callbackSettled(id: string): Promise<TaskJson> {
  let task: TaskJson | undefined
  await expect
    .poll(
      async () => {
        task = (await api.get(id)).json
        return (task.callback as { status?: string } | undefined)?.status
      },
      { timeout: 30_000, interval: 50 },
    )
    .toMatch(/^(done|error)$/)
  return task!
}

describe('completion callbacks', () => {
  it('posts a signed callback that fails twice and is then delivered, each delivery verified', async () => {
    const target = await e2e.startTarget(() => ({ body: 'fine', headers: [['content-type', 'text/plain']] }))
    let calls = 0
    const receiver = await e2e.startTarget(() => (++calls <= 2 ? { status: 503 } : { status: 204 }))

    const started = performance.now()
    const { id } = await api.submit({
      method: 'POST',
      url: `${target.url}/orders`,
      body: 'x',
      callback: { url: `${receiver.url}/hooks` },
    })
    const done = await api.waitUntilFinished(id!)
    const task = await callbackSettled(id!)
    const deliveredMs = Math.round(performance.now() - started)

    expect(done.status).toBe('done')
    expect(task.callback).toEqual({ status: 'done', attempts: 3 })
    expect(receiver.requests).toHaveLength(3)
    // Every delivery verifies, all under one webhook-id (a retry of the same message), each carrying the end.
    const ids = new Set(receiver.requests.map((r) => headersOf(r)['webhook-id']))
    expect(ids.size).toBe(1)
    expect(ids.has(id!)).toBe(false) // the callback's own id, not the task's
    for (const req of receiver.requests) {
      expect(req.method).toBe('POST')
      expect(headersOf(req)['content-type']).toBe('application/json')
      expect(verified(req)).toEqual({
        type: 'task.finished',
        taskId: id,
        status: 'done',
        attemptCount: 1,
        createdAt: done.createdAt,
        finishedAt: expect.any(String),
        lastAttempt: {
          n: 1,
          startedAt: done.attempts[0]!.startedAt,
          durationMs: done.durationMs,
          httpStatusCode: 200,
          headers: done.headers, // as GET shows them
          length: 4,
          body: 'fine',
          bodyEncoding: 'utf8',
          bodyTruncated: false,
        },
      })
    }
    // Another secret cannot have signed it.
    expect(() => verified(receiver.requests[2]!, `whsec_${randomBytes(32).toString('base64')}`)).toThrow()
    console.info(`[callbacks] callback delivered on its 3rd try ${deliveredMs} ms after submission`)
  })

  it('posts the failure callback when the task gives up, and the plain one when there is no failure callback', async () => {
    const target = await e2e.startTarget(() => ({ status: 500, body: 'broken' }))
    const receiver = await e2e.startTarget(() => ({ status: 200 }))

    const both = await api.submit({
      method: 'GET',
      url: `${target.url}/a`,
      retry: { maxAttempts: 1 },
      callback: { url: `${receiver.url}/ok` },
      failureCallback: { url: `${receiver.url}/failed` },
    })
    const single = await api.submit({
      method: 'GET',
      url: `${target.url}/b`,
      retry: { maxAttempts: 1 },
      callback: { url: `${receiver.url}/any` },
    })
    await callbackSettled(both.id!)
    await callbackSettled(single.id!)

    expect(receiver.requests.map((r) => r.url).sort()).toEqual(['/any', '/failed'])
    for (const req of receiver.requests) {
      expect(verified(req)).toMatchObject({ status: 'error', lastAttempt: { httpStatusCode: 500, body: 'broken' } })
    }
  })

  it('refuses a callback or a signed task of a key without a signing secret, and a callback to a refused address', async () => {
    const other = e2e.api(server)
    clients.push(other)
    const secrets = (await other.listSigningSecrets()).json.secrets
    for (const s of secrets) await other.deleteSigningSecret(s.id)
    const refused = await other.submit({
      method: 'GET',
      url: 'http://127.0.0.1:1/',
      callback: { url: 'http://127.0.0.1:1/cb' },
    })
    expect(refused.status).toBe(400)
    expect(refused.body).toMatchObject({ errors: [{ path: 'callback' }] })
    expect((await other.submit({ method: 'GET', url: 'http://127.0.0.1:1/', sign: true })).body).toMatchObject({
      errors: [{ path: 'sign' }],
    })
    const again = await other.createSigningSecret()
    secret = again.json.secret
    const metadata = await other.submit({
      method: 'GET',
      url: 'http://127.0.0.1:1/',
      callback: { url: 'http://169.254.169.254/' },
    })
    expect(metadata.status).toBe(400)
    expect(metadata.body).toMatchObject({ errors: [{ path: 'callback.url' }] })
  })
})

describe('signed requests', () => {
  it('signs the exact bytes sent with every active secret, so a receiver keeps verifying across a rotation', async () => {
    const target = await e2e.startTarget(() => ({}))
    const old = secret
    const fresh = (await api.createSigningSecret()).json.secret
    const body = JSON.stringify({ amount: 12.5, note: 'déjà vu', list: Array.from({ length: 2_000 }, (_, i) => i) })

    // A tasker reads a key's secrets at most once a second: sends go on until one carries the signatures of both.
    let both = false
    await expect
      .poll(
        async () => {
          const { id } = await api.submit({
            method: 'POST',
            url: `${target.url}/in`,
            body,
            headers: { 'Content-Type': 'application/json' },
            sign: true,
          })
          await api.waitUntilFinished(id!)
          const req = target.requests.at(-1)!
          expect(req.body.toString('utf8')).toBe(body)
          expect(headersOf(req)['webhook-id']).toBe(id)
          expect((await api.get(id!)).json.sign).toBe(true)
          try {
            expect(verified(req, old)).toEqual(JSON.parse(body))
            expect(verified(req, fresh)).toEqual(JSON.parse(body))
            both = true
          } catch {}
          return both
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe(true)
    // An unsigned task carries no signature headers.
    const plain = await api.submit({ method: 'GET', url: `${target.url}/plain` })
    await api.waitUntilFinished(plain.id!)
    expect(headersOf(target.requests.find((r) => r.url === '/plain')!)).not.toHaveProperty('webhook-signature')
  })
})

describe('secrets at rest', () => {
  it('finds no secret in clear in the database, the logs, or any answer, while the target gets them', async () => {
    const credentials = [
      'Bearer sk_live_e2e_9f8e7d6c5b4a',
      'sid=cookie-e2e-31337',
      'apikey-e2e-4242',
      'cb-auth-e2e-8080',
    ]
    const target = await e2e.startTarget(() => ({ status: 500 }))
    const receiver = await e2e.startTarget(() => ({}))

    const { id } = await api.submit({
      method: 'POST',
      url: `${target.url}/charge`,
      body: 'x',
      headers: { Authorization: credentials[0]!, Cookie: credentials[1]!, 'X-Api-Key': credentials[2]! },
      secretHeaders: ['X-Api-Key'],
      retry: { maxAttempts: 1 },
      callback: { url: `${receiver.url}/cb`, headers: { Authorization: credentials[3]! } },
    })
    await callbackSettled(id!)
    await api.listSigningSecrets()

    // The target and the receiver got every credential in clear: they were sent.
    const sent = [...target.requests, ...receiver.requests].map((r) => r.rawHeaders.join('\n')).join('\n')
    for (const credential of credentials) expect(sent).toContain(credential)
    // Nothing else holds one: every table of the schema, both apps' logs, every answer this file's clients read.
    const { rows } = await e2e.db.pool.query<{ text: string }>(
      `select string_agg(row_to_json(x)::text, E'\\n') as text from (
         select * from tasks) x
       union all select string_agg(row_to_json(o)::text, E'\\n') from outbox o
       union all select string_agg(row_to_json(r)::text, E'\\n') from task_results r
       union all select string_agg(row_to_json(s)::text, E'\\n') from signing_secrets s`,
    )
    // A signing secret is shown in the one answer that created it; every other answer is searched for it.
    const transcript = clients.flatMap((c) => c.transcript)
    const shown = /"secret":"whsec_([^*"]+)"/
    const signingSecrets = transcript.flatMap((text) => shown.exec(text)?.[1] ?? [])
    expect(signingSecrets.length).toBeGreaterThanOrEqual(3)
    const haystacks = {
      database: rows.map((r) => r.text ?? '').join('\n'),
      logs: (await Promise.all([server, tasker].map((app) => readFile(app.logPath, 'utf8')))).join('\n'),
      answers: transcript.filter((text) => !shown.test(text)).join('\n'),
    }
    for (const [where, text] of Object.entries(haystacks)) {
      for (const credential of credentials) expect(text, `${credential} in ${where}`).not.toContain(credential)
      for (const s of signingSecrets) expect(text, `a signing secret in ${where}`).not.toContain(s)
    }
    console.info(
      `[secrets] searched ${haystacks.database.length} B of rows, ${haystacks.logs.length} B of logs, ` +
        `${transcript.length} answers: no secret in clear`,
    )
  })
})
