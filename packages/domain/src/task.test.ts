import { describe, expect, it } from 'vitest'
import type { OutboundRequest } from './outbound-request.js'
import { DEFAULT_RETRY_ON, type RetryPolicy } from './retry-policy.js'
import {
  cancelTask,
  canTransition,
  createTask,
  isTaskId,
  moveTask,
  redriveTask,
  TASK_STATUSES,
  type TaskId,
} from './task.js'

const request: OutboundRequest = { method: 'GET', url: 'http://x.test/', headers: [], body: null, timeoutMs: 1000 }
const t0 = new Date('2026-01-01T00:00:00Z')
const t1 = new Date('2026-01-01T00:00:01Z')
const retry: RetryPolicy = { maxAttempts: 3, backoff: { baseMs: 10, maxMs: 100 }, retryOn: DEFAULT_RETRY_ON }

describe('task', () => {
  it('starts new with no attempts', () => {
    const task = createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 })
    expect(task).toEqual({
      id: 'id-1',
      ownerKeyId: 'k',
      request,
      kind: 'request',
      parentId: null,
      callbacks: null,
      sign: false,
      expiresAt: null,
      endCode: null,
      flowKey: new URL(request.url).origin,
      status: 'new',
      attempts: 0,
      budgetFrom: 0,
      retry,
      runAt: null,
      waitReason: null,
      traceparent: null,
      createdAt: t0,
      updatedAt: t0,
    })
  })

  it('counts an attempt when it goes in process', () => {
    const task = moveTask(
      createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 }),
      'in_process',
      t1,
    )
    expect(task).toMatchObject({ status: 'in_process', attempts: 1, updatedAt: t1 })
  })

  it('allows exactly the documented transitions', () => {
    const allowed = TASK_STATUSES.flatMap((from) =>
      TASK_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    )
    expect(allowed).toEqual([
      'new->scheduled',
      'new->in_process',
      'new->error',
      'new->cancelled',
      'scheduled->new',
      'scheduled->cancelled',
      'in_process->new',
      'in_process->scheduled',
      'in_process->done',
      'in_process->error',
      'error->new',
    ])
  })

  it('holds a due time exactly while scheduled', () => {
    const running = moveTask(
      createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 }),
      'in_process',
      t0,
    )
    const waiting = moveTask(running, 'scheduled', t0, { runAt: t1, reason: 'retry' })
    expect(waiting).toMatchObject({ status: 'scheduled', runAt: t1, waitReason: 'retry', attempts: 1 })
    expect(moveTask(waiting, 'new', t1)).toMatchObject({ status: 'new', runAt: null, waitReason: null, attempts: 1 })
    expect(() => moveTask(running, 'scheduled', t0)).toThrow('a wait goes with scheduled')
    expect(() => moveTask(running, 'done', t0, { runAt: t1, reason: 'retry' })).toThrow('a wait goes with scheduled')
  })

  it('refuses an illegal transition with a typed error', () => {
    const task = createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 })
    expect(() => moveTask(task, 'done', t1)).toThrow(expect.objectContaining({ code: 'illegal-transition' }))
  })

  it('recognises UUIDs as task ids', () => {
    expect(isTaskId('019a1b2c-3d4e-7f00-8000-000000000001')).toBe(true)
    expect(isTaskId('not-a-uuid')).toBe(false)
    expect(isTaskId("1' or '1'='1")).toBe(false)
  })
})

describe('redriveTask', () => {
  const failed = () => {
    const running = moveTask(
      createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 }),
      'in_process',
      t0,
    )
    return moveTask(running, 'error', t0)
  }

  it('puts a task in error back to new with a fresh budget of attempts', () => {
    expect(redriveTask(failed(), t1)).toMatchObject({ status: 'new', attempts: 1, budgetFrom: 1, updatedAt: t1 })
  })

  it.each(['new', 'scheduled', 'in_process', 'done'] as const)(
    'refuses a task that is %s, naming its status',
    (status) => {
      const task = { ...failed(), status }
      expect(() => redriveTask(task, t1)).toThrow(
        expect.objectContaining({
          code: 'task-not-retryable',
          message: `task id-1 is ${status}; only a task in error can be retried`,
        }),
      )
    },
  )
})

describe('cancelTask', () => {
  const fresh = () => createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, now: t0 })

  it('cancels a new task, and a scheduled one, dropping its due time', () => {
    expect(cancelTask(fresh(), t1)).toMatchObject({ status: 'cancelled', runAt: null, updatedAt: t1 })
    const waiting = createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, retry, runAt: t1, now: t0 })
    expect(cancelTask(waiting, t1)).toMatchObject({ status: 'cancelled', runAt: null })
  })

  it.each(['in_process', 'done', 'error', 'cancelled'] as const)(
    'refuses a task that is %s, naming its status',
    (status) => {
      expect(() => cancelTask({ ...fresh(), status }, t1)).toThrow(
        expect.objectContaining({
          code: 'task-not-cancellable',
          message: `task id-1 is ${status}; only a new or scheduled task can be cancelled`,
        }),
      )
    },
  )
})
