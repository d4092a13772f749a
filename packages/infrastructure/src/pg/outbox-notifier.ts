import type { Logger } from '../logger.js'
import type { Queryable } from './pool.js'

/** The LISTEN/NOTIFY channel that tells the relay new outbox entries are committed. */
export const OUTBOX_CHANNEL = 'outbox'

/**
 * Returns a function to call after committing outbox entries. It sends NOTIFY in a transaction of its own, never
 * inside the caller's (see migrations/1764000000001_drop-outbox-notify-trigger.sql for why), and coalesces: while
 * one NOTIFY is in flight, any number of calls make exactly one more. A lost NOTIFY only delays the relay until
 * its next poll, so a failure is logged, not thrown.
 */
export function pgOutboxNotifier(db: Queryable, log: Logger): () => void {
  let inFlight = false
  let again = false
  function send() {
    inFlight = true
    again = false
    db.query(`select pg_notify('${OUTBOX_CHANNEL}', '')`)
      .catch((err: unknown) => log.warn({ err }, 'outbox notify failed, the relay will poll'))
      .finally(() => {
        inFlight = false
        if (again) send()
      })
  }
  return () => {
    if (inFlight) again = true
    else send()
  }
}
