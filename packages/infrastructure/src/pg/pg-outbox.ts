import type { DeadLetter, Outbox, OutboxEntry } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type pg from 'pg'

type OutboxRow = { id: string; kind: OutboxEntry['kind']; task_id: TaskId; payload: DeadLetter | null }

export function pgOutbox(pool: pg.Pool): Outbox {
  return {
    async drain(limit, publish) {
      const client = await pool.connect()
      let broken: Error | undefined
      // The transaction stays open while `publish` waits on the broker; a connection lost meanwhile emits 'error'
      // on a checked-out client, which nobody else listens to and which would otherwise end the process.
      const onError = (err: Error) => {
        broken = err
      }
      client.on('error', onError)
      try {
        await client.query('begin')
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
        await client.query('commit')
        return rows.length
      } catch (err) {
        await client.query('rollback').catch((e: Error) => {
          broken = e
        })
        throw err
      } finally {
        client.off('error', onError)
        client.release(broken) // a truthy argument makes the pool discard the connection instead of reusing it
      }
    },
  }
}

function toEntry(row: OutboxRow): OutboxEntry {
  if (row.kind === 'task.requested') return { id: row.id, kind: row.kind, taskId: row.task_id }
  if (row.payload === null) throw new Error(`outbox entry ${row.id} (${row.kind}) has no payload`)
  return { id: row.id, kind: row.kind, taskId: row.task_id, payload: row.payload }
}
