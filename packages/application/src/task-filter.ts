import {
  type FieldIssue,
  invalidRequest,
  isTaskId,
  parseInstant,
  TASK_STATUSES,
  type TaskId,
  type TaskStatus,
} from '@request-tasker/domain'
import type { ListPosition, TaskFilter } from './ports/task-list.js'

/** A filter as a client writes it, before it is checked. */
export type TaskFilterInput = {
  statuses?: readonly TaskStatus[]
  destination?: string
  createdAfter?: string
  createdBefore?: string
}

/**
 * Checks a filter, each bad field an issue in `issues`: statuses outside `allowed` (a bulk cancel takes only new and
 * scheduled ones), instants that are not RFC 3339, an empty window. The destination is matched lower-cased, as
 * stored URLs are normalised.
 */
export function checkFilter(
  input: TaskFilterInput,
  issues: FieldIssue[],
  allowed: readonly TaskStatus[] = TASK_STATUSES,
): TaskFilter {
  const { statuses, destination, createdAfter, createdBefore } = input
  const refused = statuses?.filter((s) => !allowed.includes(s)) ?? []
  if (refused.length > 0) {
    issues.push({ path: 'status', message: `may name only ${allowed.join(', ')}, not ${refused.join(', ')}` })
  }
  const after = instant('createdAfter', createdAfter, issues)
  const before = instant('createdBefore', createdBefore, issues)
  if (after && before && after >= before) issues.push({ path: 'createdAfter', message: 'must be before createdBefore' })
  if (destination !== undefined && (destination.length === 0 || /[\s/?#]/.test(destination))) {
    issues.push({ path: 'destination', message: 'must be a host, with a port when not the default (api.example.com)' })
  }
  return {
    // None given: every status the caller may touch, which the store's own statement already restricts to.
    ...(statuses && statuses.length > 0 && { statuses }),
    ...(destination !== undefined && { destination: destination.toLowerCase() }),
    ...(after && { createdAfter: after }),
    ...(before && { createdBefore: before }),
  }
}

function instant(path: string, text: string | undefined, issues: FieldIssue[]): Date | null {
  if (text === undefined) return null
  const at = parseInstant(text)
  if (!at) issues.push({ path, message: 'must be an RFC 3339 date-time, e.g. 2026-01-01T12:00:00Z' })
  return at
}

// The cursor is the position, as base64url JSON: opaque to clients, and checked whole when it comes back.
export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify({ t: position.createdAtMicros.toString(), i: position.id })).toString('base64url')
}

export function decodeCursor(cursor: string): ListPosition {
  try {
    const { t, i } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { t?: unknown; i?: unknown }
    if (typeof t === 'string' && /^\d{1,19}$/.test(t) && typeof i === 'string' && isTaskId(i)) {
      return { createdAtMicros: BigInt(t), id: i as TaskId }
    }
  } catch {
    // falls through to the refusal
  }
  throw invalidRequest([{ path: 'cursor', message: 'is not a cursor this server answered; start again without it' }])
}
