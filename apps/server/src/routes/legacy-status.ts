import type { TaskStatus } from '@request-tasker/domain'
import type { TaskViewJson } from './task-view.js'

type LegacyStatus = 'new' | 'in_process' | 'done' | 'error'

// The original service's clients know four statuses. Each later one reads as the nearest of them: `scheduled` is
// waiting to be sent (`new`), `cancelled` ended without being sent (`error`). A status added without a line here
// fails the build.
const LEGACY_STATUS: Record<TaskStatus, LegacyStatus> = {
  new: 'new',
  scheduled: 'new',
  in_process: 'in_process',
  done: 'done',
  error: 'error',
  cancelled: 'error',
}

/** The task as GET /task/{id} answers it: the current view, its status one of the original four. */
export function toLegacyTaskJson(view: TaskViewJson): TaskViewJson & { status: LegacyStatus } {
  return { ...view, status: LEGACY_STATUS[view.status] }
}
