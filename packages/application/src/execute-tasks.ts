import { type Attempt, nextStep, type Task, type TaskId } from '@request-tasker/domain'
import { batched } from './batched.js'
import type { HttpSender } from './ports/http-sender.js'
import type { AttemptResult, TaskRepository } from './ports/task-repository.js'

/**
 * One task's way through: `sent` settles when its send has ended (the send slot is free again), `stored` when its
 * outcome is stored. Both settle at once, `stored` with null, for a task that was not claimed (finished already,
 * cancelled, or held by another claim), so nothing was sent.
 */
export type TaskRun = { sent: Promise<void>; stored: Promise<AttemptResult | null> }

/** Claims the tasks and starts sending the claimed ones; resolves once the claim is stored, one run per id. */
export type ExecuteTasks = (ids: readonly TaskId[]) => Promise<TaskRun[]>

export function makeExecuteTasks(deps: {
  tasks: TaskRepository
  sender: HttpSender
  now: () => Date
  /** In [0, 1): the backoff's jitter. */
  random: () => number
  leaseGraceMs: number
  /** Most outcomes, or claim calls, that one statement takes. */
  maxBatch?: number
}): ExecuteTasks {
  const maxBatch = deps.maxBatch ?? 500
  // Calls from several partitions that overlap share one claim statement and so one commit.
  const claim = batched(async (idLists: Array<readonly TaskId[]>) => {
    const claimed = new Map(
      (await deps.tasks.claim(idLists.flat(), deps.now(), deps.leaseGraceMs)).map((t) => [t.id, t]),
    )
    return idLists.map((ids) =>
      ids.map((id) => {
        const task = claimed.get(id)
        claimed.delete(id) // a repeated id sends once
        return task
      }),
    )
  }, maxBatch)
  // Outcomes are stored as they come, each task's on its own, many per write: a slow send holds up no other.
  // Each output is the error that kept that outcome from being stored, if any.
  const record = batched(async (results: AttemptResult[]): Promise<unknown[]> => {
    try {
      await deps.tasks.recordAttempts(results, deps.now())
      return results.map(() => undefined)
    } catch (err) {
      if (results.length === 1) return [err]
      // One outcome the database refuses must not cost the others their write: each goes again on its own.
      return Promise.all(
        results.map((result) =>
          deps.tasks.recordAttempts([result], deps.now()).then(
            () => undefined,
            (e: unknown) => e,
          ),
        ),
      )
    }
  }, maxBatch)

  async function send(task: Task): Promise<AttemptResult> {
    const startedAt = deps.now()
    const outcome = await deps.sender.send(task.request)
    const attempt: Attempt = { taskId: task.id, n: task.attempts, startedAt, outcome }
    return { attempt, next: nextStep(task, outcome, deps.now(), deps.random) }
  }

  function run(task: Task | undefined): TaskRun {
    if (!task) return { sent: Promise.resolve(), stored: Promise.resolve(null) }
    const sending = send(task)
    return {
      sent: sending.then(
        () => {},
        () => {},
      ),
      stored: sending.then(async (result) => {
        const refused = await record(result)
        if (refused !== undefined) throw refused
        return result
      }),
    }
  }

  return async (ids) => (await claim(ids)).map(run)
}
