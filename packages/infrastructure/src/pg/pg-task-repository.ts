import type { TaskRepository } from '@request-tasker/application'
import type pg from 'pg'
import { type SecretBox, secretBox } from '../secrets/secret-box.js'
import { addTask, addTaskOnce, addTasks } from './tasks/add-tasks.js'
import { claimTasks } from './tasks/claim-tasks.js'
import { findOwned } from './tasks/find-task.js'
import { expireLeases, renewLeases } from './tasks/leases.js'
import { observeOutcomes } from './tasks/observe-outcomes.js'
import { cancelTask, redriveTask } from './tasks/owner-actions.js'
import { recordAttempts } from './tasks/record-attempts.js'
import { nextDueInMs, promoteDue, requeueLost, wakeKeyBusy } from './tasks/requeue.js'
import { type SealedTask, sealTask } from './tasks/secret-columns.js'
import { instantOf, type StoreClock } from './tasks/task-row.js'

/** A body larger than this goes in a statement of its own (see add). */
const BATCHED_BODY_MAX_BYTES = 64 * 1024

/**
 * The tasks table and what goes with it, one statement per operation in pg/tasks. `secrets` seals secret header
 * values before they are stored (without a key, a task carrying one is refused). `clock` is for tests only: it
 * pins the instant the tasker's statements run at, which is otherwise the database's own (see StoreClock).
 */
export function pgTaskRepository(
  db: pg.Pool,
  { clock, secrets = secretBox([]) }: { clock?: StoreClock; secrets?: SecretBox } = {},
): TaskRepository {
  const at = () => instantOf(clock)
  return {
    async add(tasks) {
      const sealed = tasks.map((task) => sealTask(task, secrets))
      // A large body goes alone, as a binary parameter: in a batch it would travel as the hex text of a bytea[],
      // built in memory as one string twice its size.
      const large = sealed.filter(isLarge)
      const batch = sealed.filter((t) => !isLarge(t))
      await Promise.all([
        ...large.map((task) => addTask(db, task)),
        batch.length === 1 ? addTask(db, batch[0]!) : batch.length > 1 ? addTasks(db, batch) : undefined,
      ])
    },
    addOnce: (task, claim) => addTaskOnce(db, sealTask(task, secrets), claim),
    findOwned: (id, ownerKeyId) => findOwned(db, id, ownerKeyId),
    redrive: (id, ownerKeyId, now) => redriveTask(db, id, ownerKeyId, now),
    cancel: (id, ownerKeyId, now) => cancelTask(db, id, ownerKeyId, now),

    claim: (ids, policy, room) => claimTasks(db, at(), ids, policy, room),
    observe: (observations, flow) => observeOutcomes(db, at(), observations, flow),
    recordAttempts: (results) => recordAttempts(db, at(), results),
    renewLeases: (held, graceMs) => renewLeases(db, at(), held, graceMs),
    expireLeases: (limit) => expireLeases(db, at(), limit),
    promoteDue: (limit) => promoteDue(db, at(), limit),
    nextDueInMs: () => nextDueInMs(db, at()),
    wakeKeyBusy: (ownerKeyId, limit) => wakeKeyBusy(db, at(), ownerKeyId, limit),
    requeueLost: (olderThanMs, limit) => requeueLost(db, at(), olderThanMs, limit),
  }
}

const isLarge = ({ task }: SealedTask) => (task.request.body?.byteLength ?? 0) > BATCHED_BODY_MAX_BYTES
