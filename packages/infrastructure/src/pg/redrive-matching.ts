import type { BulkChanges } from '@request-tasker/application'
import { movesFrom } from '@request-tasker/domain'
import type { Queryable } from './pool.js'
import { FILTER_SQL, filterParams } from './task-filter-sql.js'

// As the single redrive does, for a chunk of the owner's matching tasks in error: back to `new` with a fresh budget
// of attempts, its deadline lifted, a status row and an outbox entry each, in one statement, from the statuses the
// domain's MOVES let an owner redrive ($8). skip locked, as in cancel-matching.ts.
const REDRIVE_MATCHING = `
  with found as (
    select t.id from tasks t
    where ${FILTER_SQL} and t.status = any($8::text[])
    limit $7
    for update skip locked
  ), redriven as (
    update tasks t set status = 'new', budget_from = t.attempts, updated_at = $6, expires_at = null, end_code = null
    from found where t.id = found.id and t.status = any($8::text[])
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'new', $6 from redriven
  ), queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from redriven
  )
  select count(*)::int as n from redriven`

export async function redriveMatching(
  db: Queryable,
  ...[ownerKeyId, filter, now, limit]: Parameters<BulkChanges['redriveMatching']>
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(REDRIVE_MATCHING, [
    ...filterParams(ownerKeyId, filter),
    now,
    limit,
    movesFrom('redrive'),
  ])
  return rows[0]?.n ?? 0
}
