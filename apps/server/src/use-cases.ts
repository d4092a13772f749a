import {
  type AwaitTask,
  type BatchStore,
  type BulkChanges,
  type CancelMatching,
  type CancelTask,
  type GetTask,
  type IdempotencyKeys,
  type ListTasks,
  makeAwaitTask,
  makeCancelMatching,
  makeCancelTask,
  makeGetTask,
  makeListTasks,
  makeRedriveMatching,
  makeRedriveTask,
  makeSubmitBatch,
  makeSubmitTask,
  makeSubmitTaskOnce,
  type RedriveMatching,
  type RedriveTask,
  type SubmitBatch,
  type SubmitDeps,
  type SubmitTask,
  type SubmitTaskOnce,
  type TaskEndings,
  type TaskList,
  type TaskViews,
} from '@request-tasker/application'

/** What the task routes call: main.ts and the tests build it with makeTaskUseCases, or fake it whole. */
export type TaskUseCases = {
  submitTask: SubmitTask
  submitTaskOnce: SubmitTaskOnce
  submitBatch: SubmitBatch
  getTask: GetTask
  awaitTask: AwaitTask
  listTasks: ListTasks
  redriveTask: RedriveTask
  cancelTask: CancelTask
  cancelMatching: CancelMatching
  redriveMatching: RedriveMatching
}

/** Every use case the routes call, over one set of stores and one clock: main.ts and the tests wire them alike. */
export function makeTaskUseCases(
  deps: SubmitDeps & {
    keys: IdempotencyKeys
    idempotencyWindowMs: number
    list: TaskList
    bulk: BulkChanges
    batches: BatchStore
    endings: TaskEndings
    views: TaskViews
  },
): TaskUseCases {
  const { tasks, now } = deps
  return {
    submitTask: makeSubmitTask(deps),
    submitTaskOnce: makeSubmitTaskOnce(deps),
    submitBatch: makeSubmitBatch(deps),
    getTask: makeGetTask({ tasks }),
    awaitTask: makeAwaitTask({ views: deps.views, endings: deps.endings, now }),
    listTasks: makeListTasks({ list: deps.list }),
    redriveTask: makeRedriveTask({ tasks, now }),
    cancelTask: makeCancelTask({ tasks, now }),
    cancelMatching: makeCancelMatching({ bulk: deps.bulk, now }),
    redriveMatching: makeRedriveMatching({ bulk: deps.bulk, now, wakeRelay: deps.wakeRelay }),
  }
}
