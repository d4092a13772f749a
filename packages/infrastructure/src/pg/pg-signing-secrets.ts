import { randomBytes } from 'node:crypto'
import type { NewSigningSecret, SigningSecretSummary, SigningSecrets } from '@request-tasker/application'
import { MASKED } from '@request-tasker/domain'
import type pg from 'pg'
import type { SecretBox } from '../secrets/secret-box.js'
import { SECRET_PREFIX } from '../secrets/standard-webhooks.js'

type SecretRow = { id: string; hint: string; created_at: Date }

// The key's active secrets are counted in the inserting statement, so a key past its limit gets none; two creations
// at the same instant may both pass the count, which only lets a key hold one secret more.
const CREATE = `
  insert into signing_secrets (id, owner_key_id, secret, secrets_key_id, hint, created_at)
  select $1, $2, $3, $4, $5, now()
  where (select count(*) from signing_secrets where owner_key_id = $2 and deleted_at is null) < $6
  returning id, hint, created_at`

const LIST = `
  select id, hint, created_at from signing_secrets
  where owner_key_id = $1 and deleted_at is null order by created_at, id`

const REMOVE = `
  update signing_secrets set deleted_at = now() where id = $1 and owner_key_id = $2 and deleted_at is null`

const ACTIVE = 'select secret from signing_secrets where owner_key_id = $1 and deleted_at is null order by created_at'

/** Each API key's Standard Webhooks secrets, sealed at rest (see secret-box.ts); `activeSecrets` opens them to sign. */
export function pgSigningSecrets(
  pool: pg.Pool,
  box: SecretBox,
  newId: () => string,
): SigningSecrets & { activeSecrets(ownerKeyId: string): Promise<string[]> } {
  return {
    async create(ownerKeyId, maxActive): Promise<NewSigningSecret | null> {
      // 32 random bytes, as Standard Webhooks libraries make them (24 to 64 are accepted).
      const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`
      const hint = secret.slice(-4)
      const values = [newId(), ownerKeyId, box.seal(secret), box.keyId, hint, maxActive]
      const { rows } = await pool.query<SecretRow>(CREATE, values)
      return rows[0] ? { ...summaryOf(rows[0]), secret } : null
    },
    async list(ownerKeyId) {
      const { rows } = await pool.query<SecretRow>(LIST, [ownerKeyId])
      return rows.map(summaryOf)
    },
    async remove(ownerKeyId, id) {
      const { rowCount } = await pool.query(REMOVE, [id, ownerKeyId])
      return (rowCount ?? 0) > 0
    },
    async hasActive(ownerKeyId) {
      const { rows } = await pool.query(
        'select 1 from signing_secrets where owner_key_id = $1 and deleted_at is null limit 1',
        [ownerKeyId],
      )
      return rows.length > 0
    },
    async activeSecrets(ownerKeyId) {
      const { rows } = await pool.query<{ secret: string }>(ACTIVE, [ownerKeyId])
      return rows.map((r) => box.open(r.secret))
    },
  }
}

function summaryOf(row: SecretRow): SigningSecretSummary {
  return { id: row.id, createdAt: row.created_at, masked: `${SECRET_PREFIX}${MASKED}${row.hint}` }
}
