import type { TaskId } from '@request-tasker/domain'
import type { Logger } from '../logger.js'
import type { Queryable } from './pool.js'
import { TASK_ENDED_CHANNEL } from './task-endings.js'

// A NOTIFY payload holds at most 8,000 bytes: 200 ids of 36 characters and their commas fit.
const IDS_PER_NOTIFY = 200

/**
 * Returns a function to call once tasks' ends are committed: it announces them on TASK_ENDED_CHANNEL, the ids
 * comma-separated, in a statement of its own and never inside the caller's transaction (a NOTIFY there makes the
 * commit take a database-wide lock; see migrations/1764000000001). Calls made while one NOTIFY is in flight go
 * together in the next. A lost notification only leaves its waiters to their deadline, when they read the task
 * again, so a failure is logged, not thrown.
 */
export function pgTaskEndNotifier(db: Queryable, log: Logger): (ids: readonly TaskId[]) => void {
  const pending: TaskId[] = []
  let inFlight = false
  function send() {
    inFlight = true
    const ids = pending.splice(0, IDS_PER_NOTIFY)
    db.query(`select pg_notify('${TASK_ENDED_CHANNEL}', $1)`, [ids.join(',')])
      .catch((err: unknown) =>
        log.warn({ err, count: ids.length }, 'task end notify failed, waiters wait out their deadline'),
      )
      .finally(() => {
        inFlight = false
        if (pending.length > 0) send()
      })
  }
  return (ids) => {
    if (ids.length === 0) return
    pending.push(...ids)
    if (!inFlight) send()
  }
}
