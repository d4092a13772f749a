import {
  type Attempt,
  attemptsLeft,
  type CallbackDocument,
  callbackDocument,
  callbackFor,
  cancelTask,
  createCallbackTask,
  type EndCode,
  type FlowDefaults,
  type FlowLimits,
  type FlowState,
  type FlowWaitReason,
  INTERRUPTED_MESSAGE,
  isFinal,
  type Move,
  movesFrom,
  moveTask,
  newFlowState,
  type OutboundRequest,
  redriveTask,
  type Task,
  type TaskId,
  type TaskStatus,
  type Wait,
  type WaitReason,
  withLimits,
} from '@request-tasker/domain'
import { type ClaimPolicy, flowKeyId, type KeyAtClaim, planClaim } from '../src/claim-plan.js'
import { type DeadLetter, deadLetterOf, expiredLetterOf } from '../src/dead-letter.js'
import { flowControlView } from '../src/flow-control-view.js'
import { type CircuitChange, type FlowObservation, planOutcomes } from '../src/outcome-plan.js'
import type { BatchEntry, BatchStore } from '../src/ports/batch-store.js'
import type { BulkChanges } from '../src/ports/bulk-changes.js'
import type { FlowControlPage, FlowControls, FlowControlView } from '../src/ports/flow-controls.js'
import type { IdempotencyHolder, IdempotencyKeys } from '../src/ports/idempotency-keys.js'
import type { Outbox, OutboxEntry } from '../src/ports/outbox.js'
import type { ListPosition, TaskFilter, TaskList, TaskSummary } from '../src/ports/task-list.js'
import type {
  AddOnceResult,
  AttemptResult,
  Claimed,
  ExpiredLeases,
  HeldAttempt,
  IdempotencyClaim,
  KeyRoom,
  TaskRepository,
  TaskView,
} from '../src/ports/task-repository.js'
import type { OwnedTask, TaskViews } from '../src/ports/task-views.js'

type Row = {
  task: Task
  history: Array<{ status: TaskStatus; at: Date; reason: WaitReason | null }>
  attempts: Attempt[]
  leaseUntil: Date | null
  /** The place in its flow-control key's queue the task holds (the key's epoch then), as tasks.flow_reservation. */
  flowReservation: number | null
}

/**
 * TaskRepository, Outbox and IdempotencyKeys over one in-memory state, keeping the same promises as the Postgres
 * adapters. `clock` stands for the database's: the one every lease and due time is set and compared with.
 */
export class InMemoryStore
  implements TaskRepository, Outbox, IdempotencyKeys, FlowControls, TaskList, BulkChanges, BatchStore, TaskViews
{
  constructor(private readonly clock: () => Date = () => new Date()) {}

  /** Told of every task that reaches a final status, as the database's trigger notifies. */
  onEnded: (id: TaskId) => void = () => {}

  readonly rows = new Map<TaskId, Row>()
  readonly outbox: OutboxEntry[] = []
  /** Idempotency keys by owner and key. */
  readonly keys = new Map<string, { bodyHash: string; taskId: TaskId; createdAt: Date }>()
  /** Flow-control keys' states, by flowKeyId, and when their owner last set their limits. */
  readonly flowKeys = new Map<string, FlowState>()
  private readonly configured = new Map<string, Date>()
  private nextOutboxId = 1
  private nextCallbackId = 1
  private readonly draining = new Set<string>()

  async add(tasks: readonly Task[]): Promise<void> {
    // All or none, as one statement stores them.
    const ids = tasks.map((t) => t.id)
    if (new Set(ids).size < ids.length || ids.some((id) => this.rows.has(id))) throw new Error('duplicate task id')
    for (const task of tasks) this.store(task)
  }

  private store(task: Task): void {
    this.rows.set(task.id, {
      task,
      history: [{ status: task.status, at: task.createdAt, reason: task.waitReason }],
      attempts: [],
      leaseUntil: null,
      flowReservation: null,
    })
    if (task.status === 'new') this.enqueue(task.id)
  }

  async addOnce(task: Task, claim: IdempotencyClaim): Promise<AddOnceResult> {
    const name = JSON.stringify([task.ownerKeyId, claim.key])
    const held = this.keys.get(name)
    if (held && held.createdAt >= claim.expiredBefore) {
      return { created: false, taskId: held.taskId, bodyHash: held.bodyHash }
    }
    // Taken before the first await, as the unique index takes it before the task row: a racing twin finds it held.
    this.keys.set(name, { bodyHash: claim.bodyHash, taskId: task.id, createdAt: task.createdAt })
    await this.add([task])
    return { created: true }
  }

  async findHolder(ownerKeyId: string, key: string, since: Date): Promise<IdempotencyHolder | null> {
    const held = this.keys.get(JSON.stringify([ownerKeyId, key]))
    return held && held.createdAt >= since ? { taskId: held.taskId, bodyHash: held.bodyHash } : null
  }

  async findHolders(ownerKeyId: string, keys: readonly string[], since: Date) {
    const found = new Map<string, IdempotencyHolder>()
    for (const key of keys) {
      const holder = await this.findHolder(ownerKeyId, key, since)
      if (holder) found.set(key, holder)
    }
    return found
  }

  async addBatch(entries: readonly BatchEntry[]): Promise<AddOnceResult[]> {
    // All or nothing, as one statement: every id is checked before anything is stored.
    for (const { task } of entries) if (this.rows.has(task.id)) throw new Error(`duplicate task id ${task.id}`)
    const results: AddOnceResult[] = []
    for (const { task, claim } of entries)
      results.push(claim ? await this.addOnce(task, claim) : await this.addNew(task))
    return results
  }

  async page(ownerKeyId: string, filter: TaskFilter, after: ListPosition | null, limit: number) {
    const rows = this.matching(ownerKeyId, filter)
      .map((r) => ({ row: r, micros: BigInt(r.task.createdAt.getTime()) * 1000n }))
      .sort((a, b) => (a.micros === b.micros ? (a.row.task.id < b.row.task.id ? 1 : -1) : a.micros < b.micros ? 1 : -1))
      .filter(
        ({ row, micros }) =>
          !after || micros < after.createdAtMicros || (micros === after.createdAtMicros && row.task.id < after.id),
      )
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    const next = rows.length > limit && last ? { createdAtMicros: last.micros, id: last.row.task.id } : null
    return { items: items.map(({ row }) => summaryOf(row)), next }
  }

  async cancelMatching(ownerKeyId: string, filter: TaskFilter, now: Date, limit: number): Promise<number> {
    const rows = this.matching(ownerKeyId, filter)
      .filter((r) => may('cancel', r))
      .slice(0, limit)
    for (const row of rows) await this.cancel(row.task.id, ownerKeyId, now)
    return rows.length
  }

  async redriveMatching(ownerKeyId: string, filter: TaskFilter, now: Date, limit: number): Promise<number> {
    const rows = this.matching(ownerKeyId, filter)
      .filter((r) => may('redrive', r))
      .slice(0, limit)
    for (const row of rows) await this.redrive(row.task.id, ownerKeyId, now)
    return rows.length
  }

  private matching(ownerKeyId: string, filter: TaskFilter): Row[] {
    return [...this.rows.values()].filter(
      ({ task }) =>
        task.ownerKeyId === ownerKeyId &&
        (!filter.statuses || filter.statuses.includes(task.status)) &&
        (filter.destination === undefined || destinationOf(task.request.url) === filter.destination) &&
        (!filter.createdAfter || task.createdAt >= filter.createdAfter) &&
        (!filter.createdBefore || task.createdAt < filter.createdBefore),
    )
  }

  private async addNew(task: Task): Promise<AddOnceResult> {
    await this.add([task])
    return { created: true }
  }

  async findOwned(id: TaskId, ownerKeyId: string): Promise<TaskView | null> {
    const row = this.rows.get(id)
    if (!row || row.task.ownerKeyId !== ownerKeyId) return null
    return {
      task: row.task,
      history: [...row.history],
      attempts: row.attempts.map(({ n, startedAt, outcome }) => ({
        n,
        startedAt,
        durationMs: outcome.durationMs,
        httpStatusCode: outcome.kind === 'response' ? outcome.httpStatusCode : null,
        error: outcome.kind === 'failure' ? outcome.error : null,
      })),
      lastAttempt: row.attempts.at(-1) ?? null,
      callback: this.callbackOf(id),
    }
  }

  private callbackOf(parentId: TaskId): TaskView['callback'] {
    const children = [...this.rows.values()].filter((r) => r.task.parentId === parentId)
    const latest = children.sort((a, b) => a.task.id.localeCompare(b.task.id)).at(-1)
    return latest ? { id: latest.task.id, status: latest.task.status, attempts: latest.task.attempts } : null
  }

  async findOwnedMany(tasks: readonly OwnedTask[]): Promise<Array<TaskView | null>> {
    return Promise.all(tasks.map((t) => this.findOwned(t.id, t.ownerKeyId)))
  }

  async claim(ids: readonly TaskId[], policy: ClaimPolicy, room: KeyRoom): Promise<Claimed> {
    const now = this.clock()
    // Oldest first, as the Postgres claim orders by id.
    const rows = [...new Set(ids)]
      .sort()
      .flatMap((id) => this.rows.get(id) ?? [])
      .filter((row) => may('claim', row))
    const candidates = rows.map(({ task, flowReservation }) => ({
      id: task.id,
      ownerKeyId: task.ownerKeyId,
      flowKey: task.flowKey,
      reservation: flowReservation,
      expiresAt: task.expiresAt,
    }))
    const plan = planClaim(candidates, this.keysOf(candidates, now), room, now, policy)
    this.saveKeys(plan.keys)
    for (const id of plan.expire) {
      const row = this.rows.get(id)!
      this.move(row, 'error', now)
      this.end(row, 'expired', now)
    }
    const claimed: Task[] = []
    for (const id of plan.claim) {
      const row = this.rows.get(id)!
      this.move(row, 'in_process', now)
      row.leaseUntil = new Date(now.getTime() + row.task.request.timeoutMs + policy.leaseGraceMs)
      row.flowReservation = null
      claimed.push(row.task)
    }
    for (const { id, reason, runAt, reservation } of plan.hold) {
      const row = this.rows.get(id)!
      this.move(row, 'scheduled', now, { runAt, reason })
      row.flowReservation = reservation
    }
    return {
      claimed,
      sendDelays: plan.delays,
      expired: [...plan.expire],
      deferred: plan.hold.map(({ id, ownerKeyId, reason }) => ({ id, ownerKeyId, reason })),
    }
  }

  async observe(
    observations: readonly FlowObservation[],
    flow: FlowDefaults,
  ): Promise<{ changes: CircuitChange[]; woken: number }> {
    const now = this.clock()
    const keys = this.keysOf(
      observations.map((o) => ({ ownerKeyId: o.ownerKeyId, flowKey: o.flowKey })),
      now,
    )
    const plan = planOutcomes(observations, keys, now, flow)
    this.saveKeys(plan.keys)
    let woken = 0
    for (const { ownerKeyId, key, sends } of plan.ended) {
      const waiting = [...this.rows.values()].filter(
        (r) => r.task.ownerKeyId === ownerKeyId && r.task.flowKey === key && r.task.waitReason === 'parallelism',
      )
      woken += this.wake(waiting, sends).length
    }
    return { changes: [...plan.changes], woken }
  }

  async put(ownerKeyId: string, key: string, limits: FlowLimits): Promise<FlowControlView> {
    const { state } = this.flowKey(ownerKeyId, key)
    this.flowKeys.set(flowKeyId(ownerKeyId, key), withLimits(state, limits))
    this.configured.set(flowKeyId(ownerKeyId, key), this.clock())
    return this.view(ownerKeyId, key)
  }

  async get(ownerKeyId: string, key: string): Promise<FlowControlView | null> {
    return this.flowKeys.has(flowKeyId(ownerKeyId, key)) ? this.view(ownerKeyId, key) : null
  }

  async list(ownerKeyId: string, after: string | null, limit: number): Promise<FlowControlPage> {
    const keys = [...this.flowKeys.keys()]
      .map((id) => id.split('\u0000') as [string, string])
      .filter(([owner, key]) => owner === ownerKeyId && (after === null || key > after))
      .map(([, key]) => key)
      .sort()
    const items = keys.slice(0, limit).map((key) => this.view(ownerKeyId, key))
    return { items, next: keys.length > limit ? items.at(-1)!.key : null }
  }

  async remove(ownerKeyId: string, key: string): Promise<boolean> {
    this.releasePaused(ownerKeyId, key)
    this.configured.delete(flowKeyId(ownerKeyId, key))
    return this.flowKeys.delete(flowKeyId(ownerKeyId, key))
  }

  async setPaused(ownerKeyId: string, key: string, paused: boolean): Promise<FlowControlView> {
    const { state } = this.flowKey(ownerKeyId, key)
    this.flowKeys.set(flowKeyId(ownerKeyId, key), { ...state, paused })
    if (!paused) this.releasePaused(ownerKeyId, key)
    return this.view(ownerKeyId, key)
  }

  private view(ownerKeyId: string, key: string): FlowControlView {
    const now = this.clock()
    const { state, inFlight } = this.flowKey(ownerKeyId, key, now)
    const waiting: Partial<Record<FlowWaitReason, number>> = {}
    for (const r of this.rows.values()) {
      const reason = r.task.waitReason
      if (r.task.ownerKeyId !== ownerKeyId || r.task.flowKey !== key || r.task.status !== 'scheduled') continue
      if (reason === 'rate-limited' || reason === 'parallelism' || reason === 'paused' || reason === 'circuit-open') {
        waiting[reason] = (waiting[reason] ?? 0) + 1
      }
    }
    const configuredAt = this.configured.get(flowKeyId(ownerKeyId, key)) ?? null
    return flowControlView(key, state, { now, inFlight, waiting, configuredAt })
  }

  /** Paused tasks come due now, as the Postgres store makes them. */
  private releasePaused(ownerKeyId: string, key: string): void {
    const now = this.clock()
    for (const row of this.rows.values()) {
      const { task } = row
      if (task.ownerKeyId !== ownerKeyId || task.flowKey !== key || task.waitReason !== 'paused') continue
      row.task = { ...task, runAt: now }
    }
  }

  /** A flow-control key's state (a fresh one the first time), and its sends in flight. */
  flowKey(ownerKeyId: string, key: string, now = this.clock()): KeyAtClaim {
    const state = this.flowKeys.get(flowKeyId(ownerKeyId, key)) ?? newFlowState(now)
    const inFlight = [...this.rows.values()].filter(
      (r) => r.task.ownerKeyId === ownerKeyId && r.task.flowKey === key && r.task.status === 'in_process',
    ).length
    return { ownerKeyId, key, state, inFlight }
  }

  private keysOf(items: ReadonlyArray<{ ownerKeyId: string; flowKey: string }>, now: Date): KeyAtClaim[] {
    const ids = new Map(items.map((i) => [flowKeyId(i.ownerKeyId, i.flowKey), i]))
    return [...ids.values()].map((i) => this.flowKey(i.ownerKeyId, i.flowKey, now))
  }

  private saveKeys(keys: ReadonlyArray<Omit<KeyAtClaim, 'inFlight'>>): void {
    for (const k of keys) this.flowKeys.set(flowKeyId(k.ownerKeyId, k.key), k.state)
  }

  async recordAttempts(results: readonly AttemptResult[]): Promise<void> {
    const now = this.clock()
    for (const { attempt, next, callback } of results) {
      const row = this.rows.get(attempt.taskId)
      if (!row) throw new Error(`attempt for unknown task ${attempt.taskId}`)
      if (row.attempts.some((a) => a.n === attempt.n)) continue
      row.attempts.push(attempt)
      row.attempts.sort((a, b) => a.n - b.n)
      if (may('record', row) && row.task.attempts === attempt.n) {
        const wait: Wait | null =
          next.status === 'scheduled' ? { runAt: new Date(now.getTime() + next.delayMs), reason: 'retry' } : null
        this.move(row, next.status, now, wait)
        row.leaseUntil = null
        if (next.status !== 'scheduled') {
          this.end(row, next.status === 'error' ? (next.endCode ?? null) : null, now, callback ?? null)
        }
      }
    }
  }

  async renewLeases(held: readonly HeldAttempt[], leaseGraceMs: number): Promise<number> {
    const until = this.clock().getTime() + leaseGraceMs
    let renewed = 0
    for (const { taskId, n } of held) {
      const row = this.rows.get(taskId)
      if (!row || !may('record', row) || row.task.attempts !== n || row.leaseUntil === null) continue
      row.leaseUntil = new Date(Math.max(row.leaseUntil.getTime(), until))
      renewed++
    }
    return renewed
  }

  async expireLeases(limit: number): Promise<ExpiredLeases> {
    const now = this.clock()
    const expired = [...this.rows.values()]
      .filter((r) => may('expire', r) && r.leaseUntil !== null && r.leaseUntil < now)
      .sort((a, b) => (a.leaseUntil?.getTime() ?? 0) - (b.leaseUntil?.getTime() ?? 0))
      .slice(0, limit)
    const requeued: TaskId[] = []
    const interrupted: TaskId[] = []
    for (const row of expired) {
      row.leaseUntil = null
      if (attemptsLeft(row.task) > 0) {
        this.move(row, 'new', now)
        this.enqueue(row.task.id)
        requeued.push(row.task.id)
        continue
      }
      const claimedAt = row.task.updatedAt
      const attempt: Attempt = {
        taskId: row.task.id,
        n: row.task.attempts,
        startedAt: claimedAt,
        outcome: {
          kind: 'failure',
          error: { code: 'interrupted', message: INTERRUPTED_MESSAGE },
          durationMs: now.getTime() - claimedAt.getTime(),
        },
      }
      if (!row.attempts.some((a) => a.n === attempt.n)) row.attempts.push(attempt)
      this.move(row, 'error', now)
      this.end(row, null, now)
      interrupted.push(row.task.id)
    }
    return { requeued, interrupted }
  }

  async promoteDue(limit: number): Promise<TaskId[]> {
    const now = this.clock()
    return this.wake(
      [...this.rows.values()].filter((r) => r.task.runAt !== null && r.task.runAt <= now),
      limit,
    )
  }

  async nextDueInMs(): Promise<number | null> {
    const due = [...this.rows.values()]
      .filter((r) => r.task.status === 'scheduled' && r.task.runAt !== null)
      .map((r) => r.task.runAt!.getTime())
    return due.length === 0 ? null : Math.min(...due) - this.clock().getTime()
  }

  async wakeKeyBusy(ownerKeyId: string, limit: number): Promise<TaskId[]> {
    return this.wake(
      [...this.rows.values()].filter((r) => r.task.ownerKeyId === ownerKeyId && r.task.waitReason === 'key-busy'),
      limit,
    )
  }

  async requeueLost(olderThanMs: number, limit: number): Promise<TaskId[]> {
    const now = this.clock()
    const queued = new Set(this.outbox.map((e) => e.taskId))
    const lost = [...this.rows.values()]
      .filter((r) => may('claim', r) && !queued.has(r.task.id))
      .filter((r) => r.task.updatedAt.getTime() < now.getTime() - olderThanMs)
      .sort((a, b) => a.task.updatedAt.getTime() - b.task.updatedAt.getTime())
      .slice(0, limit)
    for (const row of lost) {
      row.task = { ...row.task, updatedAt: now }
      this.enqueue(row.task.id)
    }
    return lost.map((r) => r.task.id)
  }

  async redrive(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null> {
    const row = this.rows.get(id)
    if (!row || row.task.ownerKeyId !== ownerKeyId) return null
    const found = row.task.status
    if (!may('redrive', row)) return found
    row.task = redriveTask(row.task, now)
    row.history.push({ status: 'new', at: now, reason: null })
    row.leaseUntil = null
    this.enqueue(id)
    return found
  }

  async cancel(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null> {
    const row = this.rows.get(id)
    if (!row || row.task.ownerKeyId !== ownerKeyId) return null
    const found = row.task.status
    if (!may('cancel', row)) return found
    row.task = cancelTask(row.task, now)
    row.history.push({ status: 'cancelled', at: now, reason: null })
    this.onEnded(id)
    return found
  }

  async drain(limit: number, publish: (entries: readonly OutboxEntry[]) => Promise<void>): Promise<number> {
    // Entries another drain holds are passed over, as `for update skip locked` passes over locked rows.
    const batch = this.outbox.filter((e) => !this.draining.has(e.id)).slice(0, limit)
    if (batch.length === 0) return 0
    const ids = new Set(batch.map((e) => e.id))
    for (const id of ids) this.draining.add(id)
    try {
      await publish(batch) // a rejection leaves the entries in place, as a rolled-back transaction would
    } finally {
      for (const id of ids) this.draining.delete(id)
    }
    this.outbox.splice(0, this.outbox.length, ...this.outbox.filter((e) => !ids.has(e.id)))
    return batch.length
  }

  /** Test helper: the stored request of a task. */
  requestOf(id: TaskId): OutboundRequest | undefined {
    return this.rows.get(id)?.task.request
  }

  private move(row: Row, to: TaskStatus, now: Date, wait: Wait | null = null): void {
    row.task = moveTask(row.task, to, now, wait)
    row.history.push({ status: to, at: now, reason: wait?.reason ?? null })
    if (isFinal(to)) this.onEnded(row.task.id)
  }

  /** Scheduled tasks among `rows` back to new and queued, earliest due first. */
  private wake(rows: Row[], limit: number): TaskId[] {
    const now = this.clock()
    const due = rows
      .filter((r) => may('promote', r))
      .sort((a, b) => (a.task.runAt?.getTime() ?? 0) - (b.task.runAt?.getTime() ?? 0))
      .slice(0, limit)
    for (const row of due) {
      this.move(row, 'new', now)
      this.enqueue(row.task.id)
    }
    return due.map((r) => r.task.id)
  }

  /**
   * What goes with a task's end (done or error), in the same write: its dead letter when it gave up, and its
   * callback task, queued, when it has one for that status.
   */
  private end(row: Row, endCode: EndCode | null, now: Date, given: CallbackDocument | null = null): void {
    const { task } = row
    if (endCode !== null) row.task = { ...task, endCode }
    const last = row.attempts.at(-1) ?? null
    if (task.status === 'error') {
      const payload =
        endCode === 'expired' && task.expiresAt
          ? (expiredLetterOf(task.id, task.expiresAt, last, task.attempts) as DeadLetter)
          : last && deadLetterOf(last)
      if (payload)
        this.outbox.push({ id: String(this.nextOutboxId++), kind: 'task.dead-lettered', taskId: task.id, payload })
    }
    const target = callbackFor(task.callbacks, task.status)
    if (target === null || (task.status !== 'done' && task.status !== 'error')) return
    // The executor makes the document of a send's end; the store makes those of the ends it decides itself.
    const made = callbackDocument({
      taskId: task.id,
      status: task.status,
      attemptCount: task.attempts,
      attempt: last,
      endCode,
    })
    const document = {
      ...(given ?? made),
      createdAt: task.createdAt.toISOString(),
      finishedAt: now.toISOString(),
    }
    const id = `01900000-0000-7000-9000-${String(this.nextCallbackId++).padStart(12, '0')}` as TaskId
    this.store(createCallbackTask({ id, parent: task, target, document, now }))
  }

  private enqueue(taskId: TaskId): void {
    this.outbox.push({ id: String(this.nextOutboxId++), kind: 'task.requested', taskId })
  }
}

/** Whether the domain's MOVES let `move` take this task from its status: the guard every store applies. */
const may = (move: Move, row: Row) => movesFrom(move).includes(row.task.status)

/** The host of a normalised URL, with its port when not the default: what `task_destination(url)` gives. */
export function destinationOf(url: string): string {
  return url.split('/')[2] ?? ''
}

function summaryOf(row: Row): TaskSummary {
  const { task } = row
  const last = task.status === 'done' || task.status === 'error' ? row.attempts.at(-1)?.outcome : undefined
  return {
    id: task.id,
    status: task.status,
    method: task.request.method,
    url: task.request.url,
    destination: destinationOf(task.request.url),
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    attemptCount: task.attempts,
    runAt: task.runAt,
    waitReason: task.waitReason,
    outcome: !last
      ? null
      : last.kind === 'response'
        ? { httpStatusCode: last.httpStatusCode }
        : { error: { code: last.error.code, message: last.error.message } },
    endCode: task.endCode,
  }
}
