import type { TaskId } from '@request-tasker/domain'
import type { Queryable } from './pool.js'

const FIND_TRACEPARENTS = `select id, traceparent from tasks where id = any($1::uuid[]) and traceparent is not null`

/** The traceparents of the given tasks, for log lines that know only their ids (a sweep, a requeue). */
export async function findTraceparents(db: Queryable, ids: readonly TaskId[]): Promise<Map<TaskId, string>> {
  if (ids.length === 0) return new Map()
  const { rows } = await db.query<{ id: TaskId; traceparent: string }>(FIND_TRACEPARENTS, [ids])
  return new Map(rows.map((r) => [r.id, r.traceparent]))
}
