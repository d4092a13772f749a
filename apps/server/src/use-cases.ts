import {
  type BatchStore,
  type BulkChanges,
  type IdempotencyKeys,
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
  type SubmitDeps,
  type TaskEndings,
  type TaskList,
  type TaskViews,
} from '@request-tasker/application'
import type { TaskUseCases } from './routes/tasks.js'

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
