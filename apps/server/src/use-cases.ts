import {
  type CancelTask,
  type GetTask,
  type IdempotencyKeys,
  makeCancelTask,
  makeGetTask,
  makeRedriveTask,
  makeSubmitTask,
  makeSubmitTaskOnce,
  type RedriveTask,
  type SubmitDeps,
  type SubmitTask,
  type SubmitTaskOnce,
} from '@request-tasker/application'

/** What the task routes call: main.ts and the tests build it with makeTaskUseCases, or fake it whole. */
export type TaskUseCases = {
  submitTask: SubmitTask
  submitTaskOnce: SubmitTaskOnce
  getTask: GetTask
  redriveTask: RedriveTask
  cancelTask: CancelTask
}

/** Every use case the routes call, over one repository and clock: main.ts and the tests wire them alike. */
export function makeTaskUseCases(
  deps: SubmitDeps & { keys: IdempotencyKeys; idempotencyWindowMs: number },
): TaskUseCases {
  const { tasks, now } = deps
  return {
    submitTask: makeSubmitTask(deps),
    submitTaskOnce: makeSubmitTaskOnce(deps),
    getTask: makeGetTask({ tasks }),
    redriveTask: makeRedriveTask({ tasks, now }),
    cancelTask: makeCancelTask({ tasks, now }),
  }
}
