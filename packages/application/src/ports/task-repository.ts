import type {
  Attempt,
  CallbackDocument,
  FlowDefaults,
  NextStep,
  SendErrorCode,
  Task,
  TaskId,
  TaskStatus,
  WaitReason,
} from '@request-tasker/domain'
import type { ClaimPolicy } from '../claim-plan.js'
import type { CircuitChange, FlowObservation } from '../outcome-plan.js'

/** One attempt without its response's headers and body: what a list of attempts shows. */
export type AttemptSummary = {
  readonly n: number
  readonly startedAt: Date
  readonly durationMs: number
  readonly httpStatusCode: number | null
  readonly error: { readonly code: SendErrorCode; readonly message: string } | null
}

/** A task as its owner reads it: the row, every status it passed through, every attempt and the latest in full. */
export type TaskView = {
  readonly task: Task
  /** `reason` says why a `scheduled` entry waited; null on every other status. */
  readonly history: ReadonlyArray<{
    readonly status: TaskStatus
    readonly at: Date
    readonly reason: WaitReason | null
  }>
  readonly attempts: readonly AttemptSummary[]
  readonly lastAttempt: Attempt | null
  /** The callback announcing the task's end (its latest, after a redrive), once the task ended with one. */
  readonly callback: { readonly id: TaskId; readonly status: TaskStatus; readonly attempts: number } | null
}

/** A submission's Idempotency-Key, the hash of its body, and the time before which an earlier use has expired. */
export type IdempotencyClaim = { readonly key: string; readonly bodyHash: string; readonly expiredBefore: Date }

/** Either this call stored the task, or an unexpired earlier submission holds the key. */
export type AddOnceResult =
  | { readonly created: true }
  | { readonly created: false; readonly taskId: TaskId; readonly bodyHash: string }

/**
 * An attempt and the verdict on it (see `nextStep`), stored together; when the verdict ends a task that has a
 * callback for that end, the callback's document (see callbackDocument), which the store sends as a task of its own.
 */
export type AttemptResult = { readonly attempt: Attempt; readonly next: NextStep; readonly callback?: CallbackDocument }

/**
 * How many tasks of each API key a claim may still take into send slots; a key not listed may take `others`.
 * Tasks past their key's room are not claimed but wait, `scheduled` as `key-busy`.
 */
export type KeyRoom = { readonly byOwner: ReadonlyMap<string, number>; readonly others: number }

/** The tasks a claim took, and those it left waiting (see planClaim) with why. */
export type Claimed = {
  readonly claimed: readonly Task[]
  /** How long to wait before sending a claimed task, for its flow-control key's next send token; absent: none. */
  readonly sendDelays?: ReadonlyMap<TaskId, number>
  /** Tasks the claim found past their deadline: ended `error` (`expired`), never sent. */
  readonly expired: readonly TaskId[]
  readonly deferred: ReadonlyArray<{ readonly id: TaskId; readonly ownerKeyId: string; readonly reason: WaitReason }>
}

/** An attempt a tasker still holds (sending, or its outcome not yet stored), whose lease it keeps alive. */
export type HeldAttempt = { readonly taskId: TaskId; readonly n: number }

/** What a pass over run-out leases did: tasks sent again, and tasks whose attempts the interruptions used up. */
export type ExpiredLeases = { readonly requeued: readonly TaskId[]; readonly interrupted: readonly TaskId[] }

export interface TaskRepository {
  /**
   * Stores new tasks, each with its first status and, when it is `new`, an outbox entry that asks for its
   * publication: all of them or none. A `scheduled` task waits for promoteDue.
   */
  add(tasks: readonly Task[]): Promise<void>
  /**
   * Like add, but only if no submission of the same owner holds `claim.key` since `claim.expiredBefore`; the key
   * is taken in the same statement (a unique index, not a read first), so of two racing submissions one stores.
   */
  addOnce(task: Task, claim: IdempotencyClaim): Promise<AddOnceResult>
  /** Another key's task reads as absent. */
  findOwned(id: TaskId, ownerKeyId: string): Promise<TaskView | null>
  // Every time below that leases, schedules or compares is the store's own clock (the database's now()), never the
  // caller's: taskers whose clocks disagree then agree on when a lease runs out and when a task is due.

  /**
   * Takes the given tasks that are claimable, as planClaim decides with their flow-control keys locked: the taken
   * go `in_process`, leased for their timeout plus `leaseGraceMs`; the others wait `scheduled`, each with its reason
   * and time (wakeKeyBusy and observe wake some sooner). A redelivered message for a claimed or finished task takes
   * nothing. A task past its deadline ends `error` (`expired`) in the same write, with its dead letter and callback,
   * and is never sent.
   */
  claim(ids: readonly TaskId[], policy: ClaimPolicy, room: KeyRoom): Promise<Claimed>
  /**
   * Applies what ended sends told about their flow-control keys (planOutcomes), with the keys locked, and wakes,
   * per send that ended, one task of that key waiting for a free slot. Returns the circuits that changed, and how
   * many tasks it woke.
   */
  observe(
    observations: readonly FlowObservation[],
    flow: FlowDefaults,
  ): Promise<{ changes: CircuitChange[]; woken: number }>
  /**
   * Stores every attempt and moves its task as its verdict says (done, error, or scheduled `delayMs` from now), but
   * only while the task is still held by the claim that made the attempt: a late result after a requeue is kept as
   * history, not applied. A task moved to error gets a `task.dead-lettered` outbox entry in the same write; a task
   * that ends (done or error) with a callback for that status gets its callback task, queued, in the same write.
   */
  recordAttempts(results: readonly AttemptResult[]): Promise<void>
  /**
   * Extends the lease of each attempt still held (in_process, same attempt) to at least `leaseGraceMs` from now, so
   * no sweeper takes back a task whose sender is alive, however long its outcome waits to be stored. Returns how
   * many leases it extended.
   */
  renewLeases(held: readonly HeldAttempt[], leaseGraceMs: number): Promise<number>
  /**
   * Settles `in_process` tasks whose lease ran out (their tasker died mid-attempt): back to `new` and queued again
   * while the task has attempts left, else `error` with an `interrupted` attempt, a dead letter and its callback.
   */
  expireLeases(limit: number): Promise<ExpiredLeases>
  /** Moves `scheduled` tasks whose time has come to `new` and queues them, earliest first; returns their ids. */
  promoteDue(limit: number): Promise<TaskId[]>
  /** How long until the earliest `scheduled` task is due, by the store's clock (≤ 0: now); null when none waits. */
  nextDueInMs(): Promise<number | null>
  /** Wakes up to `limit` of the key's `key-busy` tasks, oldest first: back to `new` and queued. */
  wakeKeyBusy(ownerKeyId: string, limit: number): Promise<TaskId[]>
  /**
   * Queues again tasks `new` for longer than `olderThanMs` that have no outbox entry: their message was lost after
   * the relay published it (a recreated topic, a broker that lost its tail). A claim takes each once however many
   * messages name it.
   */
  requeueLost(olderThanMs: number, limit: number): Promise<TaskId[]>
  /**
   * Puts the owner's task back to `new` with a fresh attempt budget and queues it, only if it is in `error` at
   * that moment. Returns the status it found (`error` means redriven), or null when the task is absent.
   */
  redrive(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null>
  /**
   * Moves the owner's task to `cancelled` only if it is `new` or `scheduled` at that moment, so it is never sent.
   * Returns the status it found (`new` or `scheduled` means cancelled), or null when the task is absent.
   */
  cancel(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null>
}
