import { randomFillSync } from 'node:crypto'
import type { TaskId } from '@request-tasker/domain'
import { v7 } from 'uuid'

const RANDOM_POOL_BYTES = 16 * 256

/**
 * Time-ordered ids: new tasks land at the end of the primary key index instead of all over it. The random bytes
 * come from a pool filled 256 ids at a time (one call per id was a few percent of the server's CPU per
 * submission), and the counter after the timestamp keeps ids from one generator increasing within a millisecond,
 * as uuid's own v7 does.
 */
export function uuidV7Ids(): () => TaskId {
  const pool = new Uint8Array(RANDOM_POOL_BYTES)
  let used = RANDOM_POOL_BYTES
  let msecs = Number.NEGATIVE_INFINITY
  let seq = 0
  return () => {
    if (used === RANDOM_POOL_BYTES) {
      randomFillSync(pool)
      used = 0
    }
    const random = pool.subarray(used, used + 16)
    used += 16
    const now = Date.now()
    if (now > msecs) {
      // A random start, 31 bits as uuid's v7 takes it, leaves room to count up within the millisecond.
      seq = (((random[6] ?? 0) & 0x7f) << 24) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0)
      msecs = now
    } else {
      seq = (seq + 1) | 0
      if (seq === 0) msecs++
    }
    return v7({ random, msecs, seq }) as TaskId
  }
}
