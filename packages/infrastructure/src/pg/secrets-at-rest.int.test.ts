import { randomBytes } from 'node:crypto'
import { roomyFlow } from '@request-tasker/application/testing'
import { createCallbacks, createOutboundRequest, createTask, DEFAULT_RETRY_ON } from '@request-tasker/domain'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../testing/test-database.js'
import { uuidV7Ids } from '../ids.js'
import { isSealed, secretBox } from '../secrets/secret-box.js'
import { pgBatchStore } from './add-task-batch.js'
import { pgSigningSecrets } from './pg-signing-secrets.js'
import { pgTaskRepository } from './pg-task-repository.js'
import { assertSecretsReadable, reencryptSecrets } from './secrets-at-rest.js'

let db: TestDatabase
beforeAll(async () => {
  db = await createTestDatabase('secrets-at-rest')
})
afterAll(async () => {
  await db?.close()
})
beforeEach(async () => {
  await db.truncate()
  await db.pool.query('delete from signing_secrets')
})

const key = (id: string) => ({ id, key: randomBytes(32) })
const [k1, k2] = [key('k1'), key('k2')]
const retry = { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON }
const SECRETS = ['Bearer sk_live_0123456789abcdef', 'session=s3cr3t-cookie', 'xk-hidden-api-key', 'cb-token-777']
const newId = uuidV7Ids()

/** Every row of every table, as text: what a dump of the database would hold. */
async function dump(): Promise<string> {
  const { rows } = await db.pool.query<{ text: string }>(`
    select string_agg(t::text, E'\\n') as text from (
      select row_to_json(x)::text as t from tasks x
      union all select row_to_json(x)::text from outbox x
      union all select row_to_json(x)::text from signing_secrets x) all_rows`)
  return rows[0]?.text ?? ''
}

function secretTask(now = new Date()) {
  const limits = { timeoutMs: 1_000 }
  return createTask({
    id: newId(),
    ownerKeyId: 'key-1',
    request: createOutboundRequest(
      {
        method: 'POST',
        url: 'https://api.example.test/charge',
        headers: { Authorization: SECRETS[0]!, Cookie: SECRETS[1]!, 'X-Api-Key': SECRETS[2]!, 'X-Trace': 'visible' },
        secretHeaders: ['x-api-key'],
      },
      limits,
    ),
    callbacks: createCallbacks(
      { callback: { url: 'https://hooks.example.test/done', headers: { authorization: SECRETS[3]! } } },
      { ...limits, retry },
    ),
    retry,
    now,
  })
}

describe('secret headers at rest', () => {
  it('stores every secret header value sealed, so a dump of the database holds none in clear', async () => {
    const tasks = pgTaskRepository(db.pool, { secrets: secretBox([k1]) })
    const task = secretTask()
    await tasks.add([task])

    const text = await dump()
    for (const secret of SECRETS) expect(text).not.toContain(secret)
    expect(text).toContain('visible') // only the secret ones are sealed
    const { rows } = await db.pool.query('select secrets_key_id from tasks')
    expect(rows).toEqual([{ secrets_key_id: 'k1' }])

    // A claim hands the values on still sealed: only the sender opens them.
    const { claimed } = await tasks.claim(
      [task.id],
      { leaseGraceMs: 1_000, keyBusyWaitMs: 1_000, flow: roomyFlow },
      { byOwner: new Map(), others: 10 },
    )
    const headers = new Map(claimed[0]!.request.headers.map(([n, v]) => [n.toLowerCase(), v]))
    expect(isSealed(headers.get('authorization')!)).toBe(true)
    expect(secretBox([k1]).open(headers.get('x-api-key')!)).toBe(SECRETS[2])
    expect(headers.get('x-trace')).toBe('visible')
  })

  it("stores a batch's task with the columns of a single submission, its secret headers sealed", async () => {
    const box = secretBox([k1])
    const now = new Date()
    // Every column a submission may set: flow key, callbacks, signing, deadline, sealed headers, trace.
    const loaded = () => ({
      ...secretTask(now),
      flowKey: 'payments',
      sign: true,
      expiresAt: new Date(now.getTime() + 60_000),
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    })
    const [single, batched] = [loaded(), loaded()]
    await pgTaskRepository(db.pool, { secrets: box }).add([single])
    expect(await pgBatchStore(db.pool, { secrets: box }).addBatch([{ task: batched, claim: null }])).toEqual([
      { created: true },
    ])

    const text = await dump()
    for (const secret of SECRETS) expect(text).not.toContain(secret)
    const { rows } = await db.pool.query('select * from tasks order by id')
    expect(rows).toHaveLength(2)
    // Sealing takes a fresh nonce each time: the rows agree once opened.
    type Target = { headers: Array<[string, string]> } | null
    const open = (headers: Array<[string, string]>) => headers.map(([n, v]) => [n, isSealed(v) ? box.open(v) : v])
    const openTarget = (t: Target) => t && { ...t, headers: open(t.headers) }
    const opened = (row: Record<string, unknown>) => {
      const { id: _id, request_headers, callbacks, ...rest } = row
      const { done, error } = callbacks as { done: Target; error: Target }
      const headers = open(request_headers as Array<[string, string]>)
      return { ...rest, request_headers: headers, callbacks: { done: openTarget(done), error: openTarget(error) } }
    }
    expect(opened(rows[1])).toEqual(opened(rows[0]))
    expect(rows.map((r) => r.secrets_key_id)).toEqual(['k1', 'k1'])
  })

  it('refuses to store a secret header without a key, rather than store it in clear', async () => {
    const tasks = pgTaskRepository(db.pool, { secrets: secretBox([]) })
    await expect(tasks.add([secretTask()])).rejects.toThrow('set SECRETS_KEYS')
    expect(await dump()).toBe('')
  })

  it('refuses a start without the keys of the sealed rows, and names them', async () => {
    await expect(assertSecretsReadable(db.pool, secretBox([]))).resolves.toBeUndefined()
    await pgTaskRepository(db.pool, { secrets: secretBox([k1]) }).add([secretTask()])

    await expect(assertSecretsReadable(db.pool, secretBox([]))).rejects.toThrow(
      'the database holds secrets encrypted with key "k1", and SECRETS_KEYS is not set',
    )
    await expect(assertSecretsReadable(db.pool, secretBox([k2]))).rejects.toThrow(
      'key "k1", which SECRETS_KEYS does not list',
    )
    await expect(assertSecretsReadable(db.pool, secretBox([k2, k1]))).resolves.toBeUndefined()
  })

  it('encrypts every sealed value again with a new key on demand, after which the old key can go', async () => {
    const old = secretBox([k1])
    await pgTaskRepository(db.pool, { secrets: old }).add([secretTask(), secretTask()])
    const secrets = pgSigningSecrets(db.pool, old, newId)
    const created = await secrets.create('key-1', 10)

    const rotated = secretBox([k2, k1])
    expect(await reencryptSecrets(db.pool, rotated, 1)).toEqual({ tasks: 2, signingSecrets: 1 })

    await expect(assertSecretsReadable(db.pool, secretBox([k2]))).resolves.toBeUndefined()
    expect(await pgSigningSecrets(db.pool, secretBox([k2]), newId).activeSecrets('key-1')).toEqual([created!.secret])
    const { rows } = await db.pool.query<{ request_headers: Array<[string, string]> }>(
      'select request_headers from tasks',
    )
    for (const row of rows) {
      const auth = row.request_headers.find(([n]) => n === 'Authorization')![1]
      expect(secretBox([k2]).open(auth)).toBe(SECRETS[0])
    }
    for (const secret of SECRETS) expect(await dump()).not.toContain(secret)
  })
})

describe('pgSigningSecrets', () => {
  it('shows a secret once, lists it masked, keeps it sealed, and signs no more once deleted', async () => {
    const secrets = pgSigningSecrets(db.pool, secretBox([k1]), newId)
    const created = await secrets.create('key-1', 10)
    if (!created) throw new Error('not created')

    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(await secrets.list('key-1')).toEqual([
      { id: created.id, createdAt: created.createdAt, masked: `whsec_********${created.secret.slice(-4)}` },
    ])
    expect(await secrets.list('key-2')).toEqual([])
    expect(await dump()).not.toContain(created.secret.slice('whsec_'.length))
    expect(await secrets.activeSecrets('key-1')).toEqual([created.secret])
    expect(await secrets.hasActive('key-1')).toBe(true)

    expect(await secrets.remove('key-2', created.id)).toBe(false) // another key's secret reads as absent
    expect(await secrets.remove('key-1', created.id)).toBe(true)
    expect(await secrets.remove('key-1', created.id)).toBe(false)
    expect(await secrets.activeSecrets('key-1')).toEqual([])
    expect(await secrets.hasActive('key-1')).toBe(false)
  })

  it('holds several active secrets at once, up to the limit', async () => {
    const secrets = pgSigningSecrets(db.pool, secretBox([k1]), newId)
    const first = await secrets.create('key-1', 2)
    const second = await secrets.create('key-1', 2)
    expect(await secrets.create('key-1', 2)).toBeNull()
    expect(await secrets.activeSecrets('key-1')).toEqual([first!.secret, second!.secret])
    expect(await secrets.create('key-2', 2)).not.toBeNull()
  })
})
