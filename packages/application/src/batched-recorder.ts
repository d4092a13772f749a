import type { AttemptResult, TaskRepository } from './ports/task-repository.js'

/**
 * Stores attempt results as they arrive, many per write: the first goes at once, and those that arrive while a
 * write runs go together in the next one. Each caller's promise settles with the write that carried its result.
 */
export function batchedRecorder(
  tasks: Pick<TaskRepository, 'recordAttempts'>,
  now: () => Date,
  maxBatch = 500,
): (result: AttemptResult) => Promise<void> {
  type Queued = { result: AttemptResult; resolve: () => void; reject: (err: unknown) => void }
  const queue: Queued[] = []
  let writing = false

  async function drain() {
    writing = true
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch)
      try {
        await tasks.recordAttempts(
          batch.map((q) => q.result),
          now(),
        )
        for (const q of batch) q.resolve()
      } catch (err) {
        for (const q of batch) q.reject(err)
      }
    }
    writing = false
  }

  return (result) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ result, resolve, reject })
      if (!writing) void drain()
    })
}
