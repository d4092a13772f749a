import { API_KEY, startServer } from './apps.ts'
import { type BenchContext, submitBody } from './context.ts'
import type { BenchDatabase } from './database.ts'

/**
 * One task submitted through the production server, for `queueTasks` to copy. Its outbox entry is removed, so
 * it stays `new` and unsent: only its copies run.
 */
export async function submitTemplateTask(ctx: BenchContext, db: BenchDatabase, scenario: string): Promise<string> {
  const server = await startServer(ctx, db, `${scenario}-template`)
  try {
    const res = await fetch(`${server.url}/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: submitBody(ctx),
    })
    if (res.status !== 201) throw new Error(`template task refused: ${res.status} ${await res.text()}`)
    const { id } = (await res.json()) as { id: string }
    await db.pool.query('delete from outbox where task_id = $1', [id])
    return id
  } finally {
    await server.proc.stop()
  }
}
