import type { TaskId } from '@request-tasker/domain'
import { v7 } from 'uuid'

/** Time-ordered ids: new tasks land at the end of the primary key index instead of all over it. */
export function uuidV7Ids(): () => TaskId {
  return () => v7() as TaskId
}
