import type { TaskId } from '@request-tasker/domain'
import type { TaskView } from './task-repository.js'

/** Whose task to read: the id, and the key that must own it. */
export type OwnedTask = { readonly id: TaskId; readonly ownerKeyId: string }

export interface TaskViews {
  /**
   * Many tasks as `TaskRepository.findOwned` reads one, in one statement: a view (or null, for an absent task or
   * one of another key) per entry, in order.
   */
  findOwnedMany(tasks: readonly OwnedTask[]): Promise<Array<TaskView | null>>
}
