import { type Attempt, nextStep, type SendOutcome, type Task, type TaskId } from '@request-tasker/domain'
import { batched } from './batched.js'
import type { HttpSender } from './ports/http-sender.js'
import type { AttemptResult, HeldAttempt, TaskRepository } from './ports/task-repository.js'
import type { SendCapacity } from './send-capacity.js'

/** Settles once the task's outcome is stored (null for a task not claimed: nothing was sent), or given up on. */
export type TaskRun = Promise<AttemptResult | null>

export type TaskExecutor = {
  /** Claims the tasks and starts sending the claimed ones; resolves once the claim is stored, one run per id. */
  execute(ids: readonly TaskId[]): Promise<TaskRun[]>
  /** Extends the lease of every attempt this process still holds; see TaskRepository.renewLeases. */
  renewLeases(): Promise<number>
}

export type ExecuteDeps = {
  tasks: TaskRepository
  sender: HttpSender
  capacity: SendCapacity
  /** The local clock: an attempt's start, and the date form of Retry-After. Leases and due times use the store's. */
  now: () => Date
  /** In [0, 1): the backoff's jitter. */
  random: () => number
  leaseGraceMs: number
  /** Longest a task waits for its key's share of slots before it is queued again anyway. */
  keyBusyWaitMs: number
  /** Whether an error means the store could not be reached, so the same write may simply be tried again. */
  isUnavailable: (err: unknown) => boolean
  /** Told of failures nobody awaits: a wake-up of waiting tasks that did not happen (their wait then runs out). */
  warn: (err: unknown, message: string) => void
  /** Most outcomes, or claim calls, that one statement takes. */
  maxBatch?: number
}

/**
 * A task's way through one tasker: claimed into a free send slot, sent, judged by its retry policy, stored. The
 * slot frees when the send ends; the outcome then waits in a bounded buffer (see SendCapacity) for a write that it
 * shares with the outcomes that finished meanwhile, and its lease is renewed until it is stored.
 */
export function makeTaskExecutor(deps: ExecuteDeps): TaskExecutor {
  const { tasks, capacity } = deps
  const maxBatch = deps.maxBatch ?? 500
  const held = new Map<TaskId, HeldAttempt>()
  const waitingOwners = new Set<string>()

  // Calls from several partitions that overlap share one claim statement and so one commit.
  const claim = batched(async (idLists: Array<readonly TaskId[]>) => {
    const lease = { leaseGraceMs: deps.leaseGraceMs, keyBusyWaitMs: deps.keyBusyWaitMs }
    const room = { byOwner: capacity.roomByOwner(), others: capacity.limits.slotsPerKey }
    const { claimed, deferred } = await tasks.claim(idLists.flat(), lease, room)
    // Counted before the next batch reads the room: a claim of the same key may follow at once.
    for (const task of claimed) capacity.assign(task.ownerKeyId)
    for (const { ownerKeyId } of deferred) waitingOwners.add(ownerKeyId)
    const byId = new Map(claimed.map((t) => [t.id, t]))
    return idLists.map((ids) =>
      ids.map((id) => {
        const task = byId.get(id)
        byId.delete(id) // a repeated id sends once
        return task
      }),
    )
  }, maxBatch)

  // Outcomes are stored as they come, many per write. While the store cannot be reached the same write is tried
  // again: these requests were sent, and dropping their outcomes would let the sweeper send them twice. A write the
  // store refuses goes again outcome by outcome, so one bad outcome fails alone.
  const record = batched(async (results: AttemptResult[]): Promise<unknown[]> => {
    for (let waitMs = 100; ; waitMs = Math.min(waitMs * 2, 1_000)) {
      try {
        await tasks.recordAttempts(results)
        return results.map(() => undefined)
      } catch (err) {
        if (deps.isUnavailable(err)) {
          await sleep(waitMs)
          continue
        }
        if (results.length === 1) return [err]
        return Promise.all(
          results.map((r) =>
            tasks.recordAttempts([r]).then(
              () => undefined,
              (e: unknown) => e,
            ),
          ),
        )
      }
    }
  }, maxBatch)

  // Each freed slot of a key whose tasks wait wakes one of them, oldest first. Woken tasks still have Kafka to
  // cross before their claim, so waking more than the freed slots would only have them wait again.
  const wake = batched(async (owners: string[]) => {
    const freed = new Map<string, number>()
    for (const owner of owners) freed.set(owner, (freed.get(owner) ?? 0) + 1)
    for (const [owner, slots] of freed) {
      if (!waitingOwners.has(owner)) continue
      const woken = await tasks.wakeKeyBusy(owner, slots)
      if (woken.length < slots) waitingOwners.delete(owner)
    }
    return owners.map(() => undefined)
  }, maxBatch)

  async function send(task: Task): Promise<AttemptResult> {
    const startedAt = deps.now()
    const outcome = await deps.sender.send(task.request, { traceparent: task.traceparent })
    const attempt: Attempt = { taskId: task.id, n: task.attempts, startedAt, outcome }
    return { attempt, next: nextStep(task, outcome, deps.now(), deps.random) }
  }

  async function run(task: Task): Promise<AttemptResult> {
    held.set(task.id, { taskId: task.id, n: task.attempts })
    let result: AttemptResult
    try {
      result = await send(task)
    } catch (err) {
      // The sender answers every failure as an outcome; a throw is a bug, and the lease brings the task back.
      capacity.sent(task.ownerKeyId, 0)
      capacity.stored(0)
      held.delete(task.id)
      throw err
    }
    const bytes = sizeOf(result.attempt.outcome)
    capacity.sent(task.ownerKeyId, bytes)
    if (waitingOwners.has(task.ownerKeyId)) {
      wake(task.ownerKeyId).catch((err: unknown) => deps.warn(err, 'waking tasks of a busy key failed'))
    }
    try {
      const refused = await record(result)
      if (refused !== undefined) throw refused
      return result
    } finally {
      held.delete(task.id)
      capacity.stored(bytes)
    }
  }

  return {
    async execute(ids) {
      capacity.reserve(ids.length)
      let claimed: Array<Task | undefined>
      try {
        claimed = await claim(ids)
      } catch (err) {
        capacity.unreserve(ids.length)
        throw err
      }
      capacity.unreserve(claimed.filter((t) => t === undefined).length)
      return claimed.map((task) => (task ? run(task) : Promise.resolve(null)))
    },
    renewLeases() {
      return held.size === 0 ? Promise.resolve(0) : tasks.renewLeases([...held.values()], deps.leaseGraceMs)
    },
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What an outcome weighs while it waits to be stored: its stored body and its headers. */
function sizeOf(outcome: SendOutcome): number {
  if (outcome.kind === 'failure') return outcome.error.message.length
  let bytes = outcome.body.byteLength
  for (const [name, value] of outcome.headers) bytes += name.length + value.length
  return bytes
}
