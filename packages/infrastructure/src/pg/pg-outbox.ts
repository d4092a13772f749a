import type { DeadLetter, Outbox, OutboxEntry } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type pg from 'pg'
import { inTransaction } from './transaction.js'

type OutboxRow = { id: string; kind: OutboxEntry['kind']; task_id: TaskId; payload: DeadLetter | null }

export function pgOutbox(pool: pg.Pool): Outbox {
  return {
    // The transaction stays open while `publish` waits on the broker (see inTransaction for a connection lost then).
    drain: (limit, publish) =>
      inTransaction(pool, async (client) => {
        // skip locked: concurrent relays each take different entries instead of queueing behind one another.
        const { rows } = await client.query<OutboxRow>(
          'select id, kind, task_id, payload from outbox order by id limit $1 for update skip locked',
          [limit],
        )
        if (rows.length > 0) {
          await publish(rows.map(toEntry))
          // Deleted only after the broker acknowledged them: a crash before the commit publishes them again.
          await client.query('delete from outbox where id = any($1::bigint[])', [rows.map((r) => r.id)])
        }
        return rows.length
      }),
  }
}

function toEntry(row: OutboxRow): OutboxEntry {
  if (row.kind === 'task.requested') return { id: row.id, kind: row.kind, taskId: row.task_id }
  if (row.payload === null) throw new Error(`outbox entry ${row.id} (${row.kind}) has no payload`)
  return { id: row.id, kind: row.kind, taskId: row.task_id, payload: row.payload }
}
