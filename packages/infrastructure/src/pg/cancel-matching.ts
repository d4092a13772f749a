import type { BulkChanges } from '@request-tasker/application'
import { movesFrom } from '@request-tasker/domain'
import type { Queryable } from './pool.js'
import { FILTER_SQL, filterParams } from './task-filter-sql.js'

// A chunk of the owner's unsent matching tasks, cancelled with their status rows in one statement. skip locked: a
// task a claim holds right now is becoming in_process, so it is no longer cancellable, and waiting for it (or
// deadlocking with a claim that locks in another order) would gain nothing. The status guard is checked again on
// the locked row. The statuses are those the domain's MOVES let an owner cancel ($8). The trigger
// tasks_notify_cancelled wakes the long-polls of each.
const CANCEL_MATCHING = `
  with found as (
    select t.id from tasks t
    where ${FILTER_SQL} and t.status = any($8::text[])
    limit $7
    for update skip locked
  ), cancelled as (
    update tasks t set status = 'cancelled', run_at = null, wait_reason = null, updated_at = $6
    from found where t.id = found.id and t.status = any($8::text[])
    returning t.id
  ), history as (
    insert into task_statuses (task_id, status, at) select id, 'cancelled', $6 from cancelled
  )
  select count(*)::int as n from cancelled`

export async function cancelMatching(
  db: Queryable,
  ...[ownerKeyId, filter, now, limit]: Parameters<BulkChanges['cancelMatching']>
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(CANCEL_MATCHING, [
    ...filterParams(ownerKeyId, filter),
    now,
    limit,
    movesFrom('cancel'),
  ])
  return rows[0]?.n ?? 0
}
