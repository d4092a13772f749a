import type { AddOnceResult, BatchStore } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import { type SecretBox, secretBox } from '../secrets/secret-box.js'
import type { Queryable } from './pool.js'
import { addTaskBatch } from './tasks/add-tasks.js'
import { sealTask } from './tasks/secret-columns.js'

const FIND_HOLDERS = `
  select key, task_id, body_hash from task_idempotency where owner_key_id = $1 and key = any($2::text[])`

/**
 * Batches of submissions, each in one statement (see ADD_TASK_BATCH) that stores the same columns a single
 * submission does. `secrets` seals secret header values before they are stored, as pgTaskRepository's does.
 */
export function pgBatchStore(db: Queryable, { secrets = secretBox([]) }: { secrets?: SecretBox } = {}): BatchStore {
  return {
    async addBatch(entries) {
      if (entries.length === 0) return []
      const created = await addTaskBatch(
        db,
        entries.map(({ task, claim }) => ({ sealed: sealTask(task, secrets), claim })),
      )
      const unclaimed = entries.filter((e) => !created.has(e.task.id))
      // A key another submission holds: its holder, committed by now, since the conflicting insert waited for it.
      const held = new Map<string, { task_id: TaskId; body_hash: string }>()
      if (unclaimed.length > 0) {
        const owner = unclaimed[0]!.task.ownerKeyId
        const keys = unclaimed.map((e) => e.claim?.key ?? '')
        const found = await db.query<{ key: string; task_id: TaskId; body_hash: string }>(FIND_HOLDERS, [owner, keys])
        for (const row of found.rows) held.set(row.key, row)
      }
      return entries.map((entry): AddOnceResult => {
        if (created.has(entry.task.id)) return { created: true }
        const holder = held.get(entry.claim?.key ?? '')
        if (!holder) throw new Error(`idempotency key of ${entry.task.ownerKeyId} vanished while submitting a batch`)
        return { created: false, taskId: holder.task_id, bodyHash: holder.body_hash }
      })
    },
  }
}
