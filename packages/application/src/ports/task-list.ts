import type { EndCode, HttpMethod, SendErrorCode, TaskId, TaskStatus, WaitReason } from '@request-tasker/domain'

/** Which of an owner's tasks a list or a bulk action takes; every field narrows it. */
export type TaskFilter = {
  readonly statuses?: readonly TaskStatus[]
  /** The URL's host, with its port when not the default: `api.example.com`, `api.example.com:8443`. */
  readonly destination?: string
  /** Created at or after. */
  readonly createdAfter?: Date
  /** Created before. */
  readonly createdBefore?: Date
}

/**
 * Where a page ended: the last task's creation time, in microseconds since the epoch (the store's precision, which
 * a Date cannot hold), and its id. The next page starts strictly after it, newest first.
 */
export type ListPosition = { readonly createdAtMicros: bigint; readonly id: TaskId }

/** A task in short, as a list shows it. */
export type TaskSummary = {
  readonly id: TaskId
  readonly status: TaskStatus
  readonly method: HttpMethod
  readonly url: string
  readonly destination: string
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly attemptCount: number
  readonly runAt: Date | null
  readonly waitReason: WaitReason | null
  /** Once done or error: the last attempt's response status, or why it got none. */
  readonly outcome:
    | { readonly httpStatusCode: number }
    | { readonly error: { readonly code: SendErrorCode; readonly message: string } }
    | null
  /** Why the task ended without an attempt of its own to say so (its deadline passed); null otherwise. */
  readonly endCode: EndCode | null
}

export interface TaskList {
  /**
   * Up to `limit` of the owner's tasks matching `filter`, newest first (created_at, then id, both descending),
   * after `after` when given; `next` is the position of the last one when more may follow, else null.
   */
  page(
    ownerKeyId: string,
    filter: TaskFilter,
    after: ListPosition | null,
    limit: number,
  ): Promise<{ items: TaskSummary[]; next: ListPosition | null }>
}
