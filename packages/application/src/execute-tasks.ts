import {
  type Attempt,
  callbackDocument,
  callbackFor,
  type FlowDefaults,
  nextStep,
  type SendOutcome,
  signalOf,
  type Task,
  type TaskId,
} from '@request-tasker/domain'
import { groupCommit } from './group-commit.js'
import type { CircuitChange, FlowObservation } from './outcome-plan.js'
import type { HttpSender } from './ports/http-sender.js'
import type { RequestSigner } from './ports/signing.js'
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
  /** Signs the requests of tasks to be signed (callbacks always are); without it such a task fails `unsigned`. */
  signer?: RequestSigner
  capacity: SendCapacity
  /** The local clock: an attempt's start, and the date form of Retry-After. Leases and due times use the store's. */
  now: () => Date
  /** In [0, 1): the backoff's jitter. */
  random: () => number
  leaseGraceMs: number
  /** Longest a task waits for its key's share of slots before it is queued again anyway. */
  keyBusyWaitMs: number
  /** The deployment's defaults for flow-control keys (see FlowDefaults). */
  flow: FlowDefaults
  /** Told when a flow-control key's circuit opens or closes. */
  onCircuit?: (change: CircuitChange) => void
  /** Told when waiting tasks were queued again (woken), so the relay publishes them without waiting for its poll. */
  onQueued?: () => void
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

  const { isUnavailable } = deps

  // Calls from several partitions that overlap share one claim statement and so one commit.
  const claim = groupCommit(
    async (idLists: Array<readonly TaskId[]>) => {
      const policy = { leaseGraceMs: deps.leaseGraceMs, keyBusyWaitMs: deps.keyBusyWaitMs, flow: deps.flow }
      const room = { byOwner: capacity.roomByOwner(), others: capacity.limits.slotsPerKey }
      const { claimed, deferred, expired, sendDelays } = await tasks.claim(idLists.flat(), policy, room)
      // An expired task's dead letter (and callback, if any) went into the outbox with its end.
      if (expired.length > 0) deps.onQueued?.()
      // Counted before the next batch reads the room: a claim of the same key may follow at once.
      for (const task of claimed) capacity.assign(task.ownerKeyId)
      for (const { ownerKeyId, reason } of deferred) if (reason === 'key-busy') waitingOwners.add(ownerKeyId)
      const byId = new Map(claimed.map((t) => [t.id, t]))
      return idLists.map((ids) =>
        ids.map((id) => {
          const task = byId.get(id)
          byId.delete(id) // a repeated id sends once
          return task && { task, delayMs: sendDelays?.get(id) ?? 0 }
        }),
      )
    },
    { maxBatch, isUnavailable },
  )

  // Outcomes are stored as they come, many per write, up to 4 MiB of bodies and headers in one statement.
  const record = groupCommit(
    async (results: AttemptResult[]) => {
      await tasks.recordAttempts(results)
      return results.map(() => undefined)
    },
    { maxBatch, maxWeight: 4 * 1024 * 1024, weigh: (r) => sizeOf(r.attempt.outcome), isUnavailable },
  )
  // While the store cannot be reached, the outcome is written again until it is stored: the request was sent, and
  // dropping its outcome would let the sweeper send it twice. Its lease is renewed meanwhile.
  async function store(result: AttemptResult): Promise<void> {
    for (let waitMs = 100; ; waitMs = Math.min(waitMs * 2, 1_000)) {
      try {
        return await record(result)
      } catch (err) {
        if (!isUnavailable(err)) throw err
        await sleep(waitMs)
      }
    }
  }

  // Each freed slot of a key whose tasks wait wakes one of them, oldest first. Woken tasks still have Kafka to
  // cross before their claim, so waking more than the freed slots would only have them wait again.
  const wake = groupCommit(
    async (owners: string[]) => {
      const freed = new Map<string, number>()
      for (const owner of owners) freed.set(owner, (freed.get(owner) ?? 0) + 1)
      for (const [owner, slots] of freed) {
        if (!waitingOwners.has(owner)) continue
        const woken = await tasks.wakeKeyBusy(owner, slots)
        if (woken.length > 0) deps.onQueued?.()
        if (woken.length < slots) waitingOwners.delete(owner)
      }
      return owners.map(() => undefined)
    },
    { maxBatch, isUnavailable },
  )

  // What each ended send tells about its flow-control key, many sends per write; a send that ended also frees a slot
  // of its key, for a task of the key waiting for one. Advisory: a lost observation only costs a wake-up.
  const observe = groupCommit(
    async (observations: FlowObservation[]) => {
      const { changes, woken } = await tasks.observe(observations, deps.flow)
      for (const change of changes) deps.onCircuit?.(change)
      if (woken > 0) deps.onQueued?.()
      return observations.map(() => undefined)
    },
    { maxBatch, isUnavailable },
  )

  async function send(task: Task): Promise<AttemptResult> {
    const startedAt = deps.now()
    // Signed at send time, so the timestamp is the send's own; the message id is the task's, the same on a retry,
    // as Standard Webhooks asks, so a receiver can tell a retry from a new message.
    const request = task.sign
      ? ((await deps.signer?.sign(task.ownerKeyId, task.id, task.request)) ?? null)
      : task.request
    const outcome: SendOutcome = request ? await deps.sender.send(request, { traceparent: task.traceparent }) : UNSIGNED
    const attempt: Attempt = { taskId: task.id, n: task.attempts, startedAt, outcome }
    const next = nextStep(task, outcome, deps.now(), deps.random)
    if (next.status === 'scheduled' || callbackFor(task.callbacks, next.status) === null) return { attempt, next }
    const endCode = next.status === 'error' ? (next.endCode ?? null) : null
    const document = callbackDocument({
      taskId: task.id,
      status: next.status,
      attemptCount: task.attempts,
      attempt,
      endCode,
    })
    return { attempt, next, callback: document }
  }

  async function run(task: Task, delayMs: number): Promise<AttemptResult> {
    held.set(task.id, { taskId: task.id, n: task.attempts })
    let result: AttemptResult
    try {
      // Its flow-control key's send token comes in a moment: the task keeps its slot and lease until then.
      if (delayMs > 0) await sleep(delayMs)
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
    const signal = signalOf(result.attempt.outcome, deps.now())
    observe({ ownerKeyId: task.ownerKeyId, flowKey: task.flowKey, signal }).catch((err: unknown) =>
      deps.warn(err, 'flow-control state not updated'),
    )
    if (waitingOwners.has(task.ownerKeyId)) {
      wake(task.ownerKeyId).catch((err: unknown) => deps.warn(err, 'waking tasks of a busy key failed'))
    }
    try {
      await store(result)
      return result
    } finally {
      held.delete(task.id)
      capacity.stored(bytes)
    }
  }

  return {
    async execute(ids) {
      capacity.reserve(ids.length)
      let claimed: Array<{ task: Task; delayMs: number } | undefined>
      try {
        claimed = await claim(ids)
      } catch (err) {
        capacity.unreserve(ids.length)
        throw err
      }
      capacity.unreserve(claimed.filter((c) => c === undefined).length)
      return claimed.map((c) => (c ? run(c.task, c.delayMs) : Promise.resolve(null)))
    },
    renewLeases() {
      return held.size === 0 ? Promise.resolve(0) : tasks.renewLeases([...held.values()], deps.leaseGraceMs)
    },
  }
}

const UNSIGNED: SendOutcome = {
  kind: 'failure',
  error: { code: 'unsigned', message: 'the API key has no signing secret: the request was not sent' },
  durationMs: 0,
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What an outcome weighs while it waits to be stored: its stored body and its headers. */
function sizeOf(outcome: SendOutcome): number {
  if (outcome.kind === 'failure') return outcome.error.message.length
  let bytes = outcome.body.byteLength
  for (const [name, value] of outcome.headers) bytes += name.length + value.length
  return bytes
}
