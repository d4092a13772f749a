import type pg from 'pg'
import type { SecretBox } from '../secrets/secret-box.js'
import { resealHeaders } from './tasks/secret-columns.js'
import { inTransaction } from './transaction.js'

// The key ids the database holds sealed values of, read without a scan: a skip over the partial index, one probe
// per distinct key id (a handful), however many rows each has.
const KEY_IDS_IN_USE = `
  with recursive task_keys as (
    (select secrets_key_id as id from tasks where secrets_key_id is not null order by secrets_key_id limit 1)
    union all
    select (select secrets_key_id from tasks where secrets_key_id > k.id order by secrets_key_id limit 1)
    from task_keys k where k.id is not null
  )
  select id from task_keys where id is not null
  union
  select distinct secrets_key_id from signing_secrets where deleted_at is null`

/**
 * Refuses to start an app that could not read the secrets the database holds: no SECRETS_KEYS while sealed rows
 * exist, or one that lacks a key they were sealed with. Sending such a task would fail, and a new key alone would
 * hide that the old one was lost.
 */
export async function assertSecretsReadable(pool: pg.Pool, box: SecretBox): Promise<void> {
  const { rows } = await pool.query<{ id: string }>(KEY_IDS_IN_USE)
  const missing = rows.map((r) => r.id).filter((id) => !box.keyIds.includes(id))
  if (missing.length === 0) return
  const named = missing.map((id) => JSON.stringify(id)).join(', ')
  throw new Error(
    box.keyIds.length === 0
      ? `the database holds secrets encrypted with key ${named}, and SECRETS_KEYS is not set: set it to the keys ` +
          'they were encrypted with (id:base64 key, comma-separated, the current one first)'
      : `the database holds secrets encrypted with key ${named}, which SECRETS_KEYS does not list: add it after the ` +
          'current key, or run `task secrets:reencrypt` with a SECRETS_KEYS that still lists it',
  )
}

type SealedRow = { id: string; request_headers: Array<[string, string]>; callbacks: CallbacksJson | null }
type CallbacksJson = Record<'done' | 'error', { headers: Array<[string, string]> } | null>

/**
 * Seals again with the current key every value sealed with another one, `batch` rows per transaction, so the old
 * keys can then be dropped from SECRETS_KEYS. Safe beside running apps: each row is locked while it is rewritten,
 * and a send reads either form (both keys are listed meanwhile). Returns how many rows it rewrote.
 */
export async function reencryptSecrets(
  pool: pg.Pool,
  box: SecretBox,
  batch = 500,
): Promise<{ tasks: number; signingSecrets: number }> {
  if (box.keyId === null) throw new Error('SECRETS_KEYS is not set: there is no key to encrypt with')
  let tasks = 0
  for (;;) {
    const done = await inTransaction(pool, async (client) => {
      const { rows } = await client.query<SealedRow>(
        `select id, request_headers, callbacks from tasks
         where secrets_key_id is not null and secrets_key_id <> $1 limit $2 for update skip locked`,
        [box.keyId, batch],
      )
      for (const row of rows) {
        const callbacks = row.callbacks && {
          done: row.callbacks.done && {
            ...row.callbacks.done,
            headers: resealHeaders(row.callbacks.done.headers, box),
          },
          error: row.callbacks.error && {
            ...row.callbacks.error,
            headers: resealHeaders(row.callbacks.error.headers, box),
          },
        }
        await client.query('update tasks set request_headers = $2, callbacks = $3, secrets_key_id = $4 where id = $1', [
          row.id,
          JSON.stringify(resealHeaders(row.request_headers, box)),
          callbacks && JSON.stringify(callbacks),
          box.keyId,
        ])
      }
      return rows.length
    })
    tasks += done
    if (done < batch) break
  }
  let signingSecrets = 0
  for (;;) {
    const done = await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ id: string; secret: string }>(
        `select id, secret from signing_secrets where secrets_key_id <> $1 limit $2 for update skip locked`,
        [box.keyId, batch],
      )
      for (const row of rows) {
        await client.query('update signing_secrets set secret = $2, secrets_key_id = $3 where id = $1', [
          row.id,
          box.seal(box.open(row.secret)),
          box.keyId,
        ])
      }
      return rows.length
    })
    signingSecrets += done
    if (done < batch) break
  }
  return { tasks, signingSecrets }
}
