import {
  type Attempt,
  cancelTask,
  moveTask,
  type OutboundRequest,
  redriveTask,
  type Task,
  type TaskId,
  type TaskStatus,
} from '@request-tasker/domain'
import { deadLetterOf } from '../dead-letter.js'
import type { IdempotencyHolder, IdempotencyKeys } from '../ports/idempotency-keys.js'
import type { Outbox, OutboxEntry } from '../ports/outbox.js'
import type {
  AddOnceResult,
  AttemptResult,
  IdempotencyClaim,
  TaskRepository,
  TaskView,
} from '../ports/task-repository.js'

type Row = {
  task: Task
  history: Array<{ status: TaskStatus; at: Date }>
  attempts: Attempt[]
  leaseUntil: Date | null
}

/** TaskRepository, Outbox and IdempotencyKeys over one in-memory state, keeping the same promises as the Postgres adapters. */
export class InMemoryStore implements TaskRepository, Outbox, IdempotencyKeys {
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
      history: [{ status: task.status, at: task.createdAt }],
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

  async claim(ids: readonly TaskId[], now: Date, leaseGraceMs: number): Promise<Task[]> {
    const claimed: Task[] = []
    for (const id of new Set(ids)) {
      const row = this.rows.get(id)
      if (row?.task.status !== 'new') continue
      this.move(row, 'in_process', now)
      row.leaseUntil = new Date(now.getTime() + row.task.request.timeoutMs + leaseGraceMs)
      claimed.push(row.task)
    }
    return claimed
  }

  async recordAttempts(results: readonly AttemptResult[], now: Date): Promise<void> {
    for (const { attempt, next } of results) {
      const row = this.rows.get(attempt.taskId)
      if (!row) throw new Error(`attempt for unknown task ${attempt.taskId}`)
      if (row.attempts.some((a) => a.n === attempt.n)) continue
      row.attempts.push(attempt)
      row.attempts.sort((a, b) => a.n - b.n)
      if (row.task.status === 'in_process' && row.task.attempts === attempt.n) {
        this.move(row, next.status, now, next.status === 'scheduled' ? next.runAt : null)
        row.leaseUntil = null
        if (next.status === 'error') {
          const id = String(this.nextOutboxId++)
          this.outbox.push({ id, kind: 'task.dead-lettered', taskId: attempt.taskId, payload: deadLetterOf(attempt) })
        }
      }
    }
  }

  async requeueStale(now: Date, limit: number): Promise<TaskId[]> {
    const stale = [...this.rows.values()]
      .filter((r) => r.task.status === 'in_process' && r.leaseUntil !== null && r.leaseUntil < now)
      .slice(0, limit)
    for (const row of stale) {
      this.move(row, 'new', now)
      row.leaseUntil = null
      this.enqueue(row.task.id)
    }
    return stale.map((r) => r.task.id)
  }

  async promoteDue(now: Date, limit: number): Promise<TaskId[]> {
    const due = [...this.rows.values()]
      .filter((r) => r.task.status === 'scheduled' && r.task.runAt !== null && r.task.runAt <= now)
      .sort((a, b) => (a.task.runAt?.getTime() ?? 0) - (b.task.runAt?.getTime() ?? 0))
      .slice(0, limit)
    for (const row of due) {
      this.move(row, 'new', now)
      this.enqueue(row.task.id)
    }
    return due.map((r) => r.task.id)
  }

  async redrive(id: TaskId, ownerKeyId: string, now: Date): Promise<TaskStatus | null> {
    const row = this.rows.get(id)
    if (!row || row.task.ownerKeyId !== ownerKeyId) return null
    const found = row.task.status
    if (found !== 'error') return found
    row.task = redriveTask(row.task, now)
    row.history.push({ status: 'new', at: now })
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
    row.history.push({ status: 'cancelled', at: now })
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

  private move(row: Row, to: TaskStatus, now: Date, runAt: Date | null = null): void {
    row.task = moveTask(row.task, to, now, runAt)
    row.history.push({ status: to, at: now })
  }

  private enqueue(taskId: TaskId): void {
    this.outbox.push({ id: String(this.nextOutboxId++), kind: 'task.requested', taskId })
  }
}
