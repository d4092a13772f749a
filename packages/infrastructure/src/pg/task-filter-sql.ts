import type { TaskFilter } from '@request-tasker/application'

/**
 * The filter as the parameters `$2` to `$5` of a statement whose `where` holds FILTER_SQL: an absent field is a
 * null parameter, which the planner folds away (each statement is planned with its values), so every filter gets
 * the index made for it. One status is written as an equality: `= any(…)` would read the status index in an order
 * the planner cannot trust, and it would sort (list-tasks-plan.int.test.ts).
 */
export const FILTER_SQL = `t.owner_key_id = $1
    and ($2::text[] is null
         or (cardinality($2::text[]) = 1 and t.status = ($2::text[])[1])
         or (cardinality($2::text[]) > 1 and t.status = any($2::text[])))
    and ($3::text is null or task_destination(t.url) = $3::text)
    and ($4::timestamptz is null or t.created_at >= $4::timestamptz)
    and ($5::timestamptz is null or t.created_at < $5::timestamptz)`

export function filterParams(ownerKeyId: string, filter: TaskFilter): unknown[] {
  return [
    ownerKeyId,
    filter.statuses ?? null,
    filter.destination ?? null,
    filter.createdAfter ?? null,
    filter.createdBefore ?? null,
  ]
}
