import {
  type Attempt,
  attemptsLeft,
  cancelTask,
  INTERRUPTED_MESSAGE,
  isFinal,
  moveTask,
  type OutboundRequest,
  redriveTask,
  type Task,
  type TaskId,
  type TaskStatus,
  type Wait,
  type WaitReason,
} from '@request-tasker/domain'
import { deadLetterOf } from '../dead-letter.js'
import type { BatchEntry, BatchStore } from '../ports/batch-store.js'
import type { BulkChanges } from '../ports/bulk-changes.js'
import type { IdempotencyHolder, IdempotencyKeys } from '../ports/idempotency-keys.js'
import type { Outbox, OutboxEntry } from '../ports/outbox.js'
import type { ListPosition, TaskFilter, TaskList, TaskSummary } from '../ports/task-list.js'
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
} from '../ports/task-repository.js'
import type { OwnedTask, TaskViews } from '../ports/task-views.js'

type Row = {
  task: Task
  history: Array<{ status: TaskStatus; at: Date; reason: WaitReason | null }>
  attempts: Attempt[]
  leaseUntil: Date | null
}

/**
 * TaskRepository, Outbox and IdempotencyKeys over one in-memory state, keeping the same promises as the Postgres
 * adapters. `clock` stands for the database's: the one every lease and due time is set and compared with.
 */
export class InMemoryStore
  implements TaskRepository, Outbox, IdempotencyKeys, TaskList, BulkChanges, BatchStore, TaskViews
{
  constructor(private readonly clock: () => Date = () => new Date()) {}

  /** Told of every task that reaches a final status, as the database's trigger notifies. */
  onEnded: (id: TaskId) => void = () => {}

  readonly rows = new Map<TaskId, Row>()
  readonly outbox: OutboxEntry[] = []
  /** Idempotency keys by owner and key. */
  readonly keys = new Map<string, { bodyHash: string; taskId: TaskId; createdAt: Date }>()
  private nextOutboxId = 1
  private readonly draining = new Set<string>()

  async add(task: Task): Promise<void> {
    if (this.rows.has(task.id)) throw new Error(`duplicate task id ${task.id}`)
    this.rows.set(task.id, {
      task,
      history: [{ status: task.status, at: task.createdAt, reason: task.waitReason }],
      attempts: [],
      leaseUntil: null,
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
    await this.add(task)
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
      .filter((r) => r.task.status === 'new' || r.task.status === 'scheduled')
      .slice(0, limit)
    for (const row of rows) await this.cancel(row.task.id, ownerKeyId, now)
    return rows.length
  }

  async redriveMatching(ownerKeyId: string, filter: TaskFilter, now: Date, limit: number): Promise<number> {
    const rows = this.matching(ownerKeyId, filter)
      .filter((r) => r.task.status === 'error')
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
    await this.add(task)
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
    }
  }

  async findOwnedMany(tasks: readonly OwnedTask[]): Promise<Array<TaskView | null>> {
    return Promise.all(tasks.map((t) => this.findOwned(t.id, t.ownerKeyId)))
  }

  async claim(
    ids: readonly TaskId[],
    { leaseGraceMs, keyBusyWaitMs }: { leaseGraceMs: number; keyBusyWaitMs: number },
    room: KeyRoom,
  ): Promise<Claimed> {
    const now = this.clock()
    const claimed: Task[] = []
    const deferred: Array<{ id: TaskId; ownerKeyId: string }> = []
    const taken = new Map<string, number>()
    // Oldest first per key, as the Postgres claim orders by id.
    for (const id of [...new Set(ids)].sort()) {
      const row = this.rows.get(id)
      if (row?.task.status !== 'new') continue
      const owner = row.task.ownerKeyId
      const place = (taken.get(owner) ?? 0) + 1
      taken.set(owner, place)
      if (place > (room.byOwner.get(owner) ?? room.others)) {
        this.move(row, 'scheduled', now, { runAt: new Date(now.getTime() + keyBusyWaitMs), reason: 'key-busy' })
        deferred.push({ id, ownerKeyId: owner })
        continue
      }
      this.move(row, 'in_process', now)
      row.leaseUntil = new Date(now.getTime() + row.task.request.timeoutMs + leaseGraceMs)
      claimed.push(row.task)
    }
    return { claimed, deferred }
  }

  async recordAttempts(results: readonly AttemptResult[]): Promise<void> {
    const now = this.clock()
    for (const { attempt, next } of results) {
      const row = this.rows.get(attempt.taskId)
      if (!row) throw new Error(`attempt for unknown task ${attempt.taskId}`)
      if (row.attempts.some((a) => a.n === attempt.n)) continue
      row.attempts.push(attempt)
      row.attempts.sort((a, b) => a.n - b.n)
      if (row.task.status === 'in_process' && row.task.attempts === attempt.n) {
        const wait: Wait | null =
          next.status === 'scheduled' ? { runAt: new Date(now.getTime() + next.delayMs), reason: 'retry' } : null
        this.move(row, next.status, now, wait)
        row.leaseUntil = null
        if (next.status === 'error') this.deadLetter(attempt)
      }
    }
  }

  async renewLeases(held: readonly HeldAttempt[], leaseGraceMs: number): Promise<number> {
    const until = this.clock().getTime() + leaseGraceMs
    let renewed = 0
    for (const { taskId, n } of held) {
      const row = this.rows.get(taskId)
      if (row?.task.status !== 'in_process' || row.task.attempts !== n || row.leaseUntil === null) continue
      row.leaseUntil = new Date(Math.max(row.leaseUntil.getTime(), until))
      renewed++
    }
    return renewed
  }

  async expireLeases(limit: number): Promise<ExpiredLeases> {
    const now = this.clock()
    const expired = [...this.rows.values()]
      .filter((r) => r.task.status === 'in_process' && r.leaseUntil !== null && r.leaseUntil < now)
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
      this.deadLetter(attempt)
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
      .filter((r) => r.task.status === 'new' && !queued.has(r.task.id))
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
    if (found !== 'error') return found
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
    if (found !== 'new' && found !== 'scheduled') return found
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
      .filter((r) => r.task.status === 'scheduled')
      .sort((a, b) => (a.task.runAt?.getTime() ?? 0) - (b.task.runAt?.getTime() ?? 0))
      .slice(0, limit)
    for (const row of due) {
      this.move(row, 'new', now)
      this.enqueue(row.task.id)
    }
    return due.map((r) => r.task.id)
  }

  private deadLetter(attempt: Attempt): void {
    const id = String(this.nextOutboxId++)
    this.outbox.push({ id, kind: 'task.dead-lettered', taskId: attempt.taskId, payload: deadLetterOf(attempt) })
  }

  private enqueue(taskId: TaskId): void {
    this.outbox.push({ id: String(this.nextOutboxId++), kind: 'task.requested', taskId })
  }
}

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
  }
}
