import { type FieldIssue, invalidRequest } from '@request-tasker/domain'
import type { TaskList, TaskSummary } from './ports/task-list.js'
import { checkFilter, decodeCursor, encodeCursor, type TaskFilterInput } from './task-filter.js'

export const DEFAULT_PAGE_SIZE = 100
export const MAX_PAGE_SIZE = 1_000

export type ListQuery = TaskFilterInput & { limit?: number; cursor?: string }
export type TaskListPage = { items: TaskSummary[]; nextCursor: string | null }
export type ListTasks = (ownerKeyId: string, query: ListQuery) => Promise<TaskListPage>

/** One page of the owner's tasks, newest first; the cursor carries the position, never an offset. */
export function makeListTasks(deps: { list: TaskList }): ListTasks {
  return async (ownerKeyId, query) => {
    const issues: FieldIssue[] = []
    const filter = checkFilter(query, issues)
    const limit = query.limit ?? DEFAULT_PAGE_SIZE
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      issues.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}` })
    }
    let after = null
    try {
      if (query.cursor !== undefined) after = decodeCursor(query.cursor)
    } catch (err) {
      issues.push({ path: 'cursor', message: (err as { issues: FieldIssue[] }).issues[0]?.message ?? 'is invalid' })
    }
    if (issues.length > 0) throw invalidRequest(issues)
    const { items, next } = await deps.list.page(ownerKeyId, filter, after, limit)
    return { items, nextCursor: next ? encodeCursor(next) : null }
  }
}
