import type { TaskView, TaskViews } from '@request-tasker/application'
import type { Queryable } from './pool.js'
import { toTaskView, type ViewRow, viewsOf } from './tasks/find-task.js'

// findOwned's read for many tasks at once: the long-polls that one statement's end woke read their tasks together,
// not each on a connection of its own (2,000 at once queued past the pool's acquire timeout).
const FIND_OWNED_VIEWS = viewsOf(`from unnest($1::uuid[], $2::text[]) as wanted (id, owner_key_id)
  join tasks t on t.id = wanted.id and t.owner_key_id = wanted.owner_key_id`)

export function pgTaskViews(db: Queryable): TaskViews {
  return {
    async findOwnedMany(tasks) {
      if (tasks.length === 0) return []
      const { rows } = await db.query<ViewRow>(FIND_OWNED_VIEWS, [
        tasks.map((t) => t.id),
        tasks.map((t) => t.ownerKeyId),
      ])
      const found = new Map<string, TaskView>(rows.map((row) => [`${row.id} ${row.owner_key_id}`, toTaskView(row)]))
      return tasks.map((t) => found.get(`${t.id} ${t.ownerKeyId}`) ?? null)
    },
  }
}
