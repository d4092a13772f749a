import type { TaskView } from '@request-tasker/application'
import { DEFAULT_RETRY_ON, type SendOutcome, type Task, type TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { toTaskViewJson } from './task-view.js'

const at = new Date('2026-01-01T00:00:00Z')
const task: Task = {
  id: '00000000-0000-7000-8000-000000000001' as TaskId,
  ownerKeyId: 'alice',
  request: { method: 'GET', url: 'https://example.com/', headers: [], body: null, timeoutMs: 1000 },
  kind: 'request',
  parentId: null,
  callbacks: null,
  sign: false,
  expiresAt: null,
  endCode: null,
  flowKey: 'https://example.com',
  status: 'done',
  attempts: 1,
  budgetFrom: 0,
  retry: { maxAttempts: 1, backoff: { baseMs: 1, maxMs: 1 }, retryOn: DEFAULT_RETRY_ON },
  runAt: null,
  waitReason: null,
  traceparent: null,
  createdAt: at,
  updatedAt: at,
}

function viewOf(outcome: SendOutcome, status: Task['status'] = 'done'): TaskView {
  return {
    task: { ...task, status },
    history: [],
    attempts: [],
    lastAttempt: { taskId: task.id, n: 1, startedAt: at, outcome },
    callback: null,
  }
}

function response(body: Uint8Array, bodyTruncated: boolean, headers: Array<[string, string]> = []): SendOutcome {
  return { kind: 'response', httpStatusCode: 200, headers, length: 99, body, bodyTruncated, durationMs: 5 }
}

// "hé" is 68 C3 A9; a prefix cut after C3 ends inside the é.
const cutInsideACharacter = new Uint8Array([0x68, 0xc3])

describe('toTaskViewJson', () => {
  it('cuts a truncated UTF-8 prefix back to its last whole character and keeps it text', () => {
    expect(toTaskViewJson(viewOf(response(cutInsideACharacter, true)))).toMatchObject({
      body: 'h',
      bodyEncoding: 'utf8',
      bodyTruncated: true,
    })
  })

  it('answers base64 for the same bytes when the body was complete: they are not UTF-8', () => {
    expect(toTaskViewJson(viewOf(response(cutInsideACharacter, false)))).toMatchObject({
      body: 'aMM=',
      bodyEncoding: 'base64',
    })
  })

  it('keeps a byte order mark, so the text is exactly the bytes received', () => {
    const json = toTaskViewJson(viewOf(response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]), false)))
    expect(json.body).toBe('\uFEFFa')
  })

  it('groups header names that differ only in case under the first spelling', () => {
    const headers: Array<[string, string]> = [
      ['Set-Cookie', 'a=1'],
      ['x-one', '1'],
      ['set-cookie', 'b=2'],
    ]
    expect(toTaskViewJson(viewOf(response(new Uint8Array(), false, headers))).headers).toEqual({
      'Set-Cookie': ['a=1', 'b=2'],
      'x-one': '1',
    })
  })

  it('shows no result while the task is not finished, even when a late attempt is stored', () => {
    const json = toTaskViewJson(viewOf(response(new Uint8Array([0x61]), false), 'in_process'))
    expect(Object.keys(json).sort()).toEqual([
      'attemptCount',
      'attempts',
      'createdAt',
      'flowKey',
      'history',
      'id',
      'status',
      'updatedAt',
    ])
  })
})
