import {
  type IdempotencyKeys,
  makeCancelTask,
  makeGetTask,
  makeRedriveTask,
  makeSubmitTask,
  makeSubmitTaskOnce,
  type SubmitDeps,
} from '@request-tasker/application'
import type { TaskUseCases } from './routes/tasks.js'

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
