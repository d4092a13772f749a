import type { TaskView, TaskViews } from '@request-tasker/application'
import { toTaskView, type ViewRow } from './pg-task-repository.js'
import type { Queryable } from './pool.js'

// findOwned's read for many tasks at once: the long-polls that one statement's end woke read their tasks together,
// not each on a connection of its own (2,000 at once queued past the pool's acquire timeout).
const FIND_OWNED_VIEWS = `
  select t.*, h.statuses, h.ats, h.reasons, a.summaries,
         r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body,
         r.body_truncated, r.error_code, r.error_message
  from unnest($1::uuid[], $2::text[]) as wanted (id, owner_key_id)
  join tasks t on t.id = wanted.id and t.owner_key_id = wanted.owner_key_id
  cross join lateral (
    select array_agg(s.status order by s.seq) as statuses, array_agg(s.at order by s.seq) as ats,
           array_agg(s.reason order by s.seq) as reasons
    from task_history s where s.task_id = t.id
  ) h
  cross join lateral (
    select coalesce(json_agg(json_build_object(
             'n', a.attempt, 'started_at', a.started_at, 'duration_ms', a.duration_ms,
             'http_status_code', a.http_status_code, 'error_code', a.error_code,
             'error_message', a.error_message
           ) order by a.attempt), '[]') as summaries
    from task_results a where a.task_id = t.id
  ) a
  left join lateral (
    select * from task_results r where r.task_id = t.id order by r.attempt desc limit 1
  ) r on true`

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
