import type { TaskList, TaskSummary } from '@request-tasker/application'
import type { EndCode, HttpMethod, SendErrorCode, TaskId, TaskStatus, WaitReason } from '@request-tasker/domain'
import type { Queryable } from './pool.js'
import { FILTER_SQL, filterParams } from './task-filter-sql.js'

// Newest first by keyset: the row comparison `(created_at, id) < (…)` continues the index's own order, so a page
// reads `limit` + 1 entries of tasks_owner_*_created_idx however deep it is. The extra row only says whether more
// follow. created_at travels in microseconds, the column's precision, so the cursor loses nothing. The last
// attempt is looked up only for finished tasks, one primary-key probe per row of the page.
const LIST_TASKS = `
  select t.id, t.status, t.method, t.url, task_destination(t.url) as destination, t.created_at, t.updated_at,
         t.attempts, t.run_at, t.wait_reason, t.end_code,
         (extract(epoch from t.created_at) * 1000000)::bigint::text as created_micros,
         r.http_status_code, r.error_code, r.error_message
  from tasks t
  left join lateral (
    select http_status_code, error_code, error_message from task_results r
    where r.task_id = t.id order by r.attempt desc limit 1
  ) r on t.status in ('done', 'error')
  where ${FILTER_SQL}
    and ($6::bigint is null
         or (t.created_at, t.id) < (timestamptz 'epoch' + $6::bigint * interval '1 microsecond', $7::uuid))
  order by t.created_at desc, t.id desc
  limit $8`

type Row = {
  id: TaskId
  status: TaskStatus
  method: HttpMethod
  url: string
  destination: string
  created_at: Date
  updated_at: Date
  attempts: number
  run_at: Date | null
  wait_reason: WaitReason | null
  end_code: EndCode | null
  created_micros: string
  http_status_code: number | null
  error_code: SendErrorCode | null
  error_message: string | null
}

export function pgTaskList(db: Queryable): TaskList {
  return {
    async page(ownerKeyId, filter, after, limit) {
      const { rows } = await db.query<Row>(LIST_TASKS, [
        ...filterParams(ownerKeyId, filter),
        after?.createdAtMicros.toString() ?? null,
        after?.id ?? null,
        limit + 1,
      ])
      const items = rows.slice(0, limit)
      const last = items.at(-1)
      const next = rows.length > limit && last ? { createdAtMicros: BigInt(last.created_micros), id: last.id } : null
      return { items: items.map(toSummary), next }
    },
  }
}

export const LIST_TASKS_SQL = LIST_TASKS

function toSummary(row: Row): TaskSummary {
  return {
    id: row.id,
    status: row.status,
    method: row.method,
    url: row.url,
    destination: row.destination,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    attemptCount: row.attempts,
    runAt: row.run_at,
    waitReason: row.status === 'scheduled' ? (row.wait_reason ?? (row.attempts === 0 ? 'not-before' : 'retry')) : null,
    outcome:
      row.http_status_code !== null
        ? { httpStatusCode: row.http_status_code }
        : row.error_code !== null
          ? { error: { code: row.error_code, message: row.error_message ?? '' } }
          : null,
    endCode: row.end_code,
  }
}
