import {
  createOutboundRequest,
  createTask,
  invalidRequest,
  type OutboundRequestInput,
  type TaskId,
} from '@request-tasker/domain'
import type { TargetPolicy } from './ports/target-policy.js'
import type { TaskRepository } from './ports/task-repository.js'

export type SubmitTask = (cmd: { ownerKeyId: string; request: OutboundRequestInput }) => Promise<TaskId>

export function makeSubmitTask(deps: {
  tasks: TaskRepository
  targets: TargetPolicy
  newId: () => TaskId
  now: () => Date
  defaultTimeoutMs: number
  /** Tells the relay a task is waiting; best effort, as the relay also polls. */
  wakeRelay: () => void
}): SubmitTask {
  return async ({ ownerKeyId, request }) => {
    const outbound = createOutboundRequest(request, { timeoutMs: deps.defaultTimeoutMs })
    // Refused now rather than failed later: a literal loopback or metadata address can never become sendable.
    const refused = deps.targets.check(outbound.url)
    if (refused.length > 0) throw invalidRequest(refused)
    const task = createTask({ id: deps.newId(), ownerKeyId, request: outbound, now: deps.now() })
    await deps.tasks.add(task) // task, first status and outbox entry commit together: a 201 means it will be sent
    deps.wakeRelay()
    return task.id
  }
}
