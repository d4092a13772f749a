import type { AttemptSummary, TaskView } from '@request-tasker/application'
import type {
  Attempt,
  HeaderList,
  SendErrorCode,
  SendOutcome,
  TaskId,
  TaskStatus,
  WaitReason,
} from '@request-tasker/domain'
import type { Queryable } from '../pool.js'
import { bytesOf, type TaskRow, toTask } from './task-row.js'

// task_results columns; none shares a name with a tasks column, so findOwned selects both side by side.
export type ResultRow = {
  attempt: number
  started_at: Date
  duration_ms: number
  http_status_code: number | null
  headers: HeaderList | null
  length: string | null // bigint arrives as a string
  body: Buffer | null
  body_truncated: boolean | null
  error_code: SendErrorCode | null
  error_message: string | null
}

// Every attempt in short, as json_agg writes it (timestamps as text).
type SummaryJson = {
  n: number
  started_at: string
  duration_ms: number
  http_status_code: number | null
  error_code: SendErrorCode | null
  error_message: string | null
}

export type ViewRow = TaskRow &
  (ResultRow | { [K in keyof ResultRow]: null }) & {
    statuses: TaskStatus[]
    ats: Date[]
    callback_id: TaskId | null
    callback_status: TaskStatus | null
    callback_attempts: number | null
    reasons: Array<WaitReason | null>
    summaries: SummaryJson[]
  }

/**
 * The view of each task `t` that `from` names (a `from … t` clause, joins included): the row, its history, every
 * attempt in short, the latest in full, and its latest callback. findOwned reads one; findOwnedMany many at once.
 */
export function viewsOf(from: string): string {
  return `
  select t.*, h.statuses, h.ats, h.reasons, a.summaries,
         cb.id as callback_id, cb.status as callback_status, cb.attempts as callback_attempts,
         r.attempt, r.started_at, r.duration_ms, r.http_status_code, r.headers, r.length, r.body,
         r.body_truncated, r.error_code, r.error_message
  ${from}
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
  ) r on true
  -- The latest callback announcing its end: a redriven task that ends again has another.
  left join lateral (
    select c.id, c.status, c.attempts from tasks c where c.parent_id = t.id order by c.id desc limit 1
  ) cb on true`
}

// Another key's task reads exactly like a missing one (`owner_key_id = $2`).
const FIND_OWNED = `${viewsOf('from tasks t')}
  where t.id = $1 and t.owner_key_id = $2`

export async function findOwned(db: Queryable, id: TaskId, ownerKeyId: string): Promise<TaskView | null> {
  const { rows } = await db.query<ViewRow>(FIND_OWNED, [id, ownerKeyId])
  const row = rows[0]
  return row ? toTaskView(row) : null
}

export function toTaskView(row: ViewRow): TaskView {
  return {
    task: toTask(row),
    history: row.statuses.map((status, i) => ({ status, at: row.ats[i] as Date, reason: row.reasons[i] ?? null })),
    attempts: row.summaries.map(toSummary),
    lastAttempt: row.attempt === null ? null : toAttempt(row.id, row),
    callback:
      row.callback_id === null
        ? null
        : { id: row.callback_id, status: row.callback_status!, attempts: row.callback_attempts ?? 0 },
  }
}

export function toAttempt(taskId: TaskId, row: ResultRow): Attempt {
  const outcome: SendOutcome =
    row.http_status_code !== null
      ? {
          kind: 'response',
          httpStatusCode: row.http_status_code,
          headers: row.headers ?? [],
          length: Number(row.length),
          body: row.body === null ? new Uint8Array() : bytesOf(row.body),
          bodyTruncated: row.body_truncated ?? false,
          durationMs: row.duration_ms,
        }
      : {
          kind: 'failure',
          error: { code: row.error_code ?? 'unknown', message: row.error_message ?? '' },
          durationMs: row.duration_ms,
        }
  return { taskId, n: row.attempt, startedAt: row.started_at, outcome }
}

function toSummary(json: SummaryJson): AttemptSummary {
  return {
    n: json.n,
    startedAt: new Date(json.started_at),
    durationMs: json.duration_ms,
    httpStatusCode: json.http_status_code,
    error: json.error_code === null ? null : { code: json.error_code, message: json.error_message ?? '' },
  }
}
