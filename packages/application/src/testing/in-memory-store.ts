import {
  type Attempt,
  attemptsLeft,
  cancelTask,
  INTERRUPTED_MESSAGE,
  type Move,
  movesFrom,
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
import type { IdempotencyHolder, IdempotencyKeys } from '../ports/idempotency-keys.js'
import type { Outbox, OutboxEntry } from '../ports/outbox.js'
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
export class InMemoryStore implements TaskRepository, Outbox, IdempotencyKeys {
  constructor(private readonly clock: () => Date = () => new Date()) {}

  readonly rows = new Map<TaskId, Row>()
  readonly outbox: OutboxEntry[] = []
  /** Idempotency keys by owner and key. */
  readonly keys = new Map<string, { bodyHash: string; taskId: TaskId; createdAt: Date }>()
  private nextOutboxId = 1
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
      if (!row || !may('claim', row)) continue
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
      if (may('record', row) && row.task.attempts === attempt.n) {
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

  private deadLetter(attempt: Attempt): void {
    const id = String(this.nextOutboxId++)
    this.outbox.push({ id, kind: 'task.dead-lettered', taskId: attempt.taskId, payload: deadLetterOf(attempt) })
  }

  private enqueue(taskId: TaskId): void {
    this.outbox.push({ id: String(this.nextOutboxId++), kind: 'task.requested', taskId })
  }
}

/** Whether the domain's MOVES let `move` take this task from its status: the guard every store applies. */
const may = (move: Move, row: Row) => movesFrom(move).includes(row.task.status)
