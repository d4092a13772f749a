import type { IdempotencyKeys } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type { Queryable } from './pool.js'

// The unique index on (owner_key_id, key) answers it; expiry is the same comparison addOnce takes over on.
const FIND_HOLDER = `
  select task_id, body_hash from task_idempotency where owner_key_id = $1 and key = $2 and created_at >= $3`

const FIND_HOLDERS = `
  select key, task_id, body_hash from task_idempotency
  where owner_key_id = $1 and key = any($2::text[]) and created_at >= $3`

export function pgIdempotencyKeys(db: Queryable): IdempotencyKeys {
  return {
    async findHolders(ownerKeyId, keys, since) {
      const { rows } = await db.query<{ key: string; task_id: TaskId; body_hash: string }>(FIND_HOLDERS, [
        ownerKeyId,
        keys,
        since,
      ])
      return new Map(rows.map((r) => [r.key, { taskId: r.task_id, bodyHash: r.body_hash }]))
    },
    async findHolder(ownerKeyId, key, since) {
      const { rows } = await db.query<{ task_id: TaskId; body_hash: string }>({
        name: 'idempotency-find-holder',
        text: FIND_HOLDER,
        values: [ownerKeyId, key, since],
      })
      const row = rows[0]
      return row ? { taskId: row.task_id, bodyHash: row.body_hash } : null
    },
  }
}
