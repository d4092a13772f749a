import {
  type CallbackInput,
  checkFlowKey,
  createCallbacks,
  createFlowLimits,
  createOutboundRequest,
  createRetryPolicy,
  createTask,
  type DeadlineInput,
  DomainError,
  deadlineOf,
  type FieldIssue,
  type FlowControlInput,
  type FlowLimits,
  firstRunAt,
  type HeaderLimits,
  invalidRequest,
  type OutboundRequestInput,
  originOf,
  type RetryPolicy,
  type RetryPolicyInput,
  type ScheduleInput,
  setsLimits,
  type Task,
  type TaskId,
} from '@request-tasker/domain'
import { type Commit, groupCommit } from './group-commit.js'
import type { FlowControls } from './ports/flow-controls.js'
import type { IdempotencyHolder, IdempotencyKeys } from './ports/idempotency-keys.js'
import type { SigningSecrets } from './ports/signing.js'
import type { TargetPolicy } from './ports/target-policy.js'
import type { TaskRepository } from './ports/task-repository.js'

export type SubmitCommand = {
  ownerKeyId: string
  request: OutboundRequestInput
  retry?: RetryPolicyInput
  schedule?: ScheduleInput
  flowControl?: FlowControlInput
  deadline?: DeadlineInput
  callback?: CallbackInput
  failureCallback?: CallbackInput
  /** Sign the request (Standard Webhooks); absent: as the API key does by default. */
  sign?: boolean
  /** A valid W3C traceparent (see parseTraceparent); null or absent keeps none. */
  traceparent?: string | null
}

/** `queued()` counts submissions waiting for a statement of their own: pressure that the pool does not show. */
export type SubmitTask = ((cmd: SubmitCommand) => Promise<TaskId>) & { queued(): number }

/** `created` is false when an earlier submission with the same key and body already stored the task. */
export type SubmitTaskOnce = (
  cmd: SubmitCommand & { idempotencyKey: string; bodyHash: string },
) => Promise<{ id: TaskId; created: boolean }>

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

export type SubmitDeps = {
  tasks: TaskRepository
  targets: TargetPolicy
  newId: () => TaskId
  now: () => Date
  defaultTimeoutMs: number
  defaultRetry: Omit<RetryPolicy, 'retryOn'>
  /** The domain's defaults when absent. */
  headerLimits?: HeaderLimits
  /**
   * Whether secret header values can be stored encrypted (the deployment has a key): when not, a task that carries
   * one is refused rather than stored in clear. True when absent.
   */
  secretsAtRest?: boolean
  /** Which API keys sign their requests by default, and whether a key has a secret to sign with. */
  signing?: { byDefault: (ownerKeyId: string) => boolean; secrets: Pick<SigningSecrets, 'hasActive'> }
  /** Tells the relay a task is waiting; best effort, as the relay also polls. */
  wakeRelay: () => void
  /** Where a submission's `flowControl` limits are set; without it, a submission may only name its key. */
  flowControls?: FlowControls
  /** How submissions share statements; see makeSubmitTask. */
  sharing?: {
    /** Whether an error means the store could not be reached (a shared write then fails every submission in it). */
    isUnavailable?: (err: unknown) => boolean
    /** A submission still waiting for a statement after this long fails with `queueTimeout()`, never written. */
    maxQueueMs?: number
    queueTimeout?: () => Error
  }
}

/**
 * Submissions that come while two statements run share the next one, up to 100 tasks and 256 KiB of bodies (a larger
 * body goes alone, as a binary parameter: in a shared statement it travels as text twice its size). Two at once
 * measured best on two cores (S1: 1 and 3 close behind, 4 and 8 well below); under light load each goes alone, at
 * once. A 201 still comes only after the statement that carried its task committed.
 */
export function makeSubmitTask(deps: SubmitDeps): SubmitTask {
  const { isUnavailable = () => false, maxQueueMs, queueTimeout } = deps.sharing ?? {}
  const add: Commit<Task, void> = groupCommit(
    async (tasks: Task[]) => {
      await deps.tasks.add(tasks)
      return tasks.map(() => undefined)
    },
    {
      maxBatch: 100,
      maxInFlight: 2,
      maxWeight: 256 * 1024,
      weigh: (task) => task.request.body?.byteLength ?? 0,
      isUnavailable,
      ...(maxQueueMs !== undefined && queueTimeout && { maxQueueMs, queueTimeout }),
    },
  )
  const submit = async (cmd: SubmitCommand) => {
    const { task, limits } = taskOf(cmd, deps, [])
    await assertSignable(task, cmd, deps)
    if (limits) await deps.flowControls?.put(task.ownerKeyId, task.flowKey, limits)
    // Task, first status and outbox entry commit together: a 201 means it will be sent. A scheduled task gets its
    // outbox entry from the scheduler once due.
    await add(task)
    if (task.status === 'new') deps.wakeRelay()
    return task.id
  }
  return Object.assign(submit, { queued: add.queued })
}

/**
 * A submission a client may repeat safely: the same key and body within the window name the same task. The key is
 * looked up before the body is checked, so a repeat is answered as the first was even when its `notBefore` has
 * passed meanwhile, and a key held by another body answers 409 whatever that body holds.
 */
export function makeSubmitTaskOnce(
  deps: SubmitDeps & { keys: IdempotencyKeys; idempotencyWindowMs: number },
): SubmitTaskOnce {
  return async (cmd) => {
    const { ownerKeyId, idempotencyKey: key, bodyHash } = cmd
    if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      // Checked with the rest of the body, so a client hears of every bad field at once.
      const issues = [{ path: 'Idempotency-Key', message: `must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters` }]
      taskOf(cmd, deps, issues)
    }
    const expiredBefore = new Date(deps.now().getTime() - deps.idempotencyWindowMs)
    const holder = await deps.keys.findHolder(ownerKeyId, key, expiredBefore)
    if (holder) return repeatOf(holder, cmd)

    const { task, limits } = taskOf(cmd, deps, [])
    await assertSignable(task, cmd, deps)
    if (limits) await deps.flowControls?.put(task.ownerKeyId, task.flowKey, limits)
    // The lookup above is only the common case: two racing first tries both miss it, and the key taken in the
    // inserting statement decides between them.
    const result = await deps.tasks.addOnce(task, { key, bodyHash, expiredBefore })
    if (!result.created) return repeatOf(result, cmd)
    if (task.status === 'new') deps.wakeRelay()
    return { id: task.id, created: true }
  }
}

export function repeatOf(holder: IdempotencyHolder, cmd: { idempotencyKey: string; bodyHash: string }) {
  if (holder.bodyHash !== cmd.bodyHash) {
    throw new DomainError(
      'idempotency-key-reused',
      `Idempotency-Key ${JSON.stringify(cmd.idempotencyKey)} was used for another body within the window`,
    )
  }
  return { id: holder.taskId, created: false }
}

/**
 * Checks every part of a submission, so a client hears of every bad field at once, and builds the task, with the
 * limits its `flowControl` sets for its key, if any.
 */
export function taskOf(
  cmd: SubmitCommand,
  deps: SubmitDeps,
  issues: FieldIssue[],
): { task: Task; limits: FlowLimits | null } {
  const { ownerKeyId, request, retry = {}, schedule = {}, flowControl = { key: null }, deadline = {} } = cmd
  const { traceparent = null } = cmd
  const now = deps.now()
  const defaults = { timeoutMs: deps.defaultTimeoutMs, ...(deps.headerLimits && { headerLimits: deps.headerLimits }) }
  const outbound = collectIssues(issues, () => createOutboundRequest(request, defaults))
  const policy = collectIssues(issues, () => createRetryPolicy(retry, deps.defaultRetry))
  const runAt = collectIssues(issues, () => firstRunAt(schedule, now))
  if (flowControl.key !== null) issues.push(...checkFlowKey(flowControl.key, 'flowControl.'))
  const limits = setsLimits(flowControl)
    ? collectIssues(issues, () => createFlowLimits(flowControl, 'flowControl.'))
    : null
  const expiresAt = collectIssues(issues, () => deadlineOf(deadline, now, runAt))
  // A callback is retried with the deployment's defaults, not the task's own policy.
  const callbackRetry = createRetryPolicy({}, deps.defaultRetry)
  const callbacks = collectIssues(issues, () =>
    createCallbacks(
      {
        ...(cmd.callback && { callback: cmd.callback }),
        ...(cmd.failureCallback && { failureCallback: cmd.failureCallback }),
      },
      { ...defaults, retry: callbackRetry },
    ),
  )
  // Refused now rather than failed later: a literal loopback or metadata address can never become sendable.
  if (outbound) issues.push(...deps.targets.check(outbound.url))
  for (const [field, target] of [
    ['callback', callbacks?.done],
    ['failureCallback', callbacks?.error !== callbacks?.done ? callbacks?.error : null],
  ] as const) {
    if (target)
      issues.push(...deps.targets.check(target.request.url).map((i) => ({ ...i, path: `${field}.${i.path}` })))
  }
  if (deps.secretsAtRest === false) issues.push(...unsealable(outbound, callbacks))
  if (issues.length > 0 || !outbound || !policy) throw invalidRequest(issues)
  const sign = cmd.sign ?? deps.signing?.byDefault(ownerKeyId) ?? false
  const flowKey = flowControl.key ?? originOf(outbound.url)
  const task = createTask({
    id: deps.newId(),
    ownerKeyId,
    request: outbound,
    retry: policy,
    runAt,
    flowKey,
    now,
    callbacks,
    sign,
    expiresAt,
    traceparent,
  })
  return { task, limits }
}

/** Secret headers that could only be stored in clear: refused, each named, never their values. */
function unsealable(outbound: Task['request'] | null, callbacks: Task['callbacks']): FieldIssue[] {
  const message = 'is a secret header, and this deployment has no key to store it encrypted (SECRETS_KEYS)'
  const named = (prefix: string, names: readonly string[] = []) =>
    names.map((name) => ({ path: `${prefix}headers.${name}`, message }))
  return [
    ...named('', outbound?.secretHeaders),
    ...named('callback.', callbacks?.done?.request.secretHeaders),
    ...(callbacks?.error !== callbacks?.done ? named('failureCallback.', callbacks?.error?.request.secretHeaders) : []),
  ]
}

/** A signed task, or one with a callback (always signed), needs a signing secret of its key to be sendable. */
export async function assertSignable(task: Task, cmd: SubmitCommand, deps: SubmitDeps): Promise<void> {
  if (!task.sign && task.callbacks === null) return
  if (deps.signing && (await deps.signing.secrets.hasActive(task.ownerKeyId))) return
  const field = cmd.callback ? 'callback' : cmd.failureCallback ? 'failureCallback' : 'sign'
  const message = 'the API key has no signing secret to sign with; create one with POST /signing-secrets'
  throw invalidRequest([{ path: field, message }])
}

function collectIssues<T>(issues: FieldIssue[], check: () => T): T | null {
  try {
    return check()
  } catch (err) {
    if (!(err instanceof DomainError) || err.code !== 'invalid-request') throw err
    issues.push(...err.issues)
    return null
  }
}
