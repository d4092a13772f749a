import type { Callbacks, CallbackTarget, HeaderList, OutboundRequest, Task } from '@request-tasker/domain'
import { isSealed, type SecretBox } from '../../secrets/secret-box.js'

/** A task whose secret header values are sealed, and the id of the key that sealed them (null: it has none). */
export type SealedTask = { readonly task: Task; readonly secretsKeyId: string | null }

/**
 * Seals the values of the task's secret headers, and of its callbacks' (see OutboundRequest.secretHeaders), before
 * they are stored: the database never holds them in clear. A task with none is stored as it is.
 */
export function sealTask(task: Task, box: SecretBox): SealedTask {
  const targets = task.callbacks ? [task.callbacks.done, task.callbacks.error] : []
  const anySecret = [task.request, ...targets.map((t) => t?.request)].some((r) => (r?.secretHeaders?.length ?? 0) > 0)
  if (!anySecret) return { task, secretsKeyId: null }
  const sealTarget = (t: CallbackTarget | null) => (t === null ? null : { ...t, request: sealRequest(t.request, box) })
  const callbacks: Callbacks | null = task.callbacks && {
    done: sealTarget(task.callbacks.done),
    error: sealTarget(task.callbacks.error),
  }
  return { task: { ...task, request: sealRequest(task.request, box), callbacks }, secretsKeyId: box.keyId }
}

function sealRequest(request: OutboundRequest, box: SecretBox): OutboundRequest {
  const secret = new Set(request.secretHeaders ?? [])
  if (secret.size === 0) return request
  return { ...request, headers: request.headers.map(([n, v]) => [n, secret.has(n.toLowerCase()) ? box.seal(v) : v]) }
}

/** Seals again, with the box's current key, every sealed value of `headers` (key rotation). */
export function resealHeaders(headers: HeaderList, box: SecretBox): HeaderList {
  return headers.map(([n, v]) => [n, isSealed(v) ? box.seal(box.open(v)) : v])
}

/** How a callback target is stored in `tasks.callbacks`; the statements that end a task read it (callback-tasks.ts). */
type TargetJson = {
  url: string
  headers: HeaderList
  timeoutMs: number
  flowKey: string
  retry: CallbackTarget['retry']
}

export function callbacksJson(callbacks: Callbacks): { done: TargetJson | null; error: TargetJson | null } {
  const json = (t: CallbackTarget | null): TargetJson | null =>
    t && {
      url: t.request.url,
      headers: t.request.headers,
      timeoutMs: t.request.timeoutMs,
      flowKey: t.flowKey,
      retry: t.retry,
    }
  return { done: json(callbacks.done), error: json(callbacks.error) }
}

export function callbacksFromJson(
  json: { done: TargetJson | null; error: TargetJson | null } | null,
): Callbacks | null {
  if (json === null) return null
  const target = (t: TargetJson | null): CallbackTarget | null =>
    t && {
      request: { method: 'POST', url: t.url, headers: t.headers, body: null, timeoutMs: t.timeoutMs },
      flowKey: t.flowKey,
      retry: t.retry,
    }
  return { done: target(json.done), error: target(json.error) }
}
