import type { FlowDefaults, OutboundRequest, SendOutcome, TaskId } from '@request-tasker/domain'
import type { HttpSender } from '../src/ports/http-sender.js'
import type { OutboxEntry, QueuePublisher } from '../src/ports/outbox.js'
import type { TargetPolicy } from '../src/ports/target-policy.js'
import type { EndWatch, TaskEndings } from '../src/ports/task-endings.js'

export class RecordingPublisher implements QueuePublisher {
  readonly published: OutboxEntry[] = []
  failNext = false

  async publish(entries: readonly OutboxEntry[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false
      throw new Error('broker unavailable')
    }
    this.published.push(...entries)
  }
}

/** Answers every request with `respond(request)` and remembers what it was asked to send. */
export class ScriptedSender implements HttpSender {
  readonly sent: OutboundRequest[] = []
  constructor(
    private readonly respond: (request: OutboundRequest) => SendOutcome | Promise<SendOutcome> = () => okResponse(),
  ) {}

  async send(request: OutboundRequest): Promise<SendOutcome> {
    this.sent.push(request)
    return this.respond(request)
  }
}

export function okResponse(status = 200, body = 'ok'): SendOutcome {
  const bytes = new TextEncoder().encode(body)
  return {
    kind: 'response',
    httpStatusCode: status,
    headers: [['content-type', 'text/plain']],
    length: bytes.length,
    body: bytes,
    bodyTruncated: false,
    durationMs: 3,
  }
}

/** Lets every target through: for tests about something other than where a task may go. */
export const anyTarget: TargetPolicy = { check: () => [] }

/** Refuses every URL whose host is one of `hosts`, as the real policy refuses a loopback literal. */
export function refusingTargets(...hosts: string[]): TargetPolicy {
  return {
    check: (url) =>
      hosts.includes(new URL(url).hostname) ? [{ path: 'url', message: 'the address range is not allowed' }] : [],
  }
}

/** Flow-control defaults that hold nothing back, for tests about something else: no key's limit is ever reached. */
export const roomyFlow: FlowDefaults = {
  parallelism: 10_000,
  breaker: { failures: 10_000, coolDownMs: 1_000 },
  waitMs: 60_000,
}

/** The server's default retry settings, as submitTask takes them. */
export const retryDefaults = { maxAttempts: 5, backoff: { baseMs: 1_000, maxMs: 600_000 } }

/** A clock that moves only when told to. */
export function manualClock(start = new Date('2026-01-01T00:00:00Z')) {
  let now = start.getTime()
  return {
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms
    },
    set: (at: Date) => {
      now = at.getTime()
    },
  }
}

export function sequentialIds(): () => TaskId {
  let n = 0
  return () => `00000000-0000-7000-8000-${String(++n).padStart(12, '0')}` as TaskId
}

/**
 * TaskEndings that wake on `ended(id)` (wire it to InMemoryStore.onEnded), and whose waits run out only when a test
 * calls `timeOut()`, which moves `clock` on by the longest wait first: no real timer in a unit test.
 */
export class ManualEndings implements TaskEndings {
  private readonly pending = new Set<{ id: TaskId; ms: number; wake: () => void }>()
  private readonly watched = new Map<TaskId, number>()

  constructor(private readonly clock?: { advance(ms: number): void }) {}

  watch(id: TaskId): EndWatch {
    this.watched.set(id, (this.watched.get(id) ?? 0) + 1)
    let closed = false
    return {
      next: (ms, signal) =>
        new Promise<void>((resolve) => {
          const wait = {
            id,
            ms,
            wake: () => {
              this.pending.delete(wait)
              signal?.removeEventListener('abort', wait.wake)
              resolve()
            },
          }
          if (signal?.aborted) return resolve()
          signal?.addEventListener('abort', wait.wake)
          this.pending.add(wait)
        }),
      close: () => {
        if (closed) return
        closed = true
        const left = (this.watched.get(id) ?? 1) - 1
        if (left > 0) this.watched.set(id, left)
        else this.watched.delete(id)
      },
    }
  }

  ended(id: TaskId): void {
    for (const wait of [...this.pending]) if (wait.id === id) wait.wake()
  }

  timeOut(): void {
    const waits = [...this.pending]
    this.clock?.advance(Math.max(0, ...waits.map((w) => w.ms)))
    for (const wait of waits) wait.wake()
  }

  /** Waits in progress, across all tasks. */
  get waiting(): number {
    return this.pending.size
  }

  /** Watches not yet closed: a leak shows here. */
  get watches(): number {
    return [...this.watched.values()].reduce((a, b) => a + b, 0)
  }
}
