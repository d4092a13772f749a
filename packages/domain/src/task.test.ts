import { describe, expect, it } from 'vitest'
import { statusAfter } from './attempt.js'
import type { OutboundRequest } from './outbound-request.js'
import { canTransition, createTask, isTaskId, moveTask, TASK_STATUSES, type TaskId } from './task.js'

const request: OutboundRequest = { method: 'GET', url: 'http://x.test/', headers: [], body: null, timeoutMs: 1000 }
const t0 = new Date('2026-01-01T00:00:00Z')
const t1 = new Date('2026-01-01T00:00:01Z')

describe('task', () => {
  it('starts new with no attempts', () => {
    const task = createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, now: t0 })
    expect(task).toEqual({
      id: 'id-1',
      ownerKeyId: 'k',
      request,
      status: 'new',
      attempts: 0,
      createdAt: t0,
      updatedAt: t0,
    })
  })

  it('counts an attempt when it goes in process', () => {
    const task = moveTask(createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, now: t0 }), 'in_process', t1)
    expect(task).toMatchObject({ status: 'in_process', attempts: 1, updatedAt: t1 })
  })

  it('allows exactly the documented transitions', () => {
    const allowed = TASK_STATUSES.flatMap((from) =>
      TASK_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    )
    expect(allowed).toEqual(['new->in_process', 'in_process->new', 'in_process->done', 'in_process->error'])
  })

  it('refuses an illegal transition with a typed error', () => {
    const task = createTask({ id: 'id-1' as TaskId, ownerKeyId: 'k', request, now: t0 })
    expect(() => moveTask(task, 'done', t1)).toThrow(expect.objectContaining({ code: 'illegal-transition' }))
  })

  it('calls a task done on any response and error on a failure', () => {
    const response = {
      kind: 'response' as const,
      httpStatusCode: 503,
      headers: [],
      length: 0,
      body: new Uint8Array(),
      bodyTruncated: false,
      durationMs: 1,
    }
    expect(statusAfter(response)).toBe('done')
    expect(statusAfter({ kind: 'failure', error: { code: 'timeout', message: 't' }, durationMs: 1 })).toBe('error')
  })

  it('recognises UUIDs as task ids', () => {
    expect(isTaskId('019a1b2c-3d4e-7f00-8000-000000000001')).toBe(true)
    expect(isTaskId('not-a-uuid')).toBe(false)
    expect(isTaskId("1' or '1'='1")).toBe(false)
  })
})
