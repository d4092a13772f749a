import { isTaskId, type TaskId } from '@request-tasker/domain'
import { z } from 'zod'

// A message only names the task: the row in Postgres is the truth, so a message can never carry a stale request.
const taskMessage = z.object({
  taskId: z.custom<TaskId>((v) => typeof v === 'string' && isTaskId(v), 'must be a UUID'),
})

export function encodeTaskMessage(taskId: TaskId): string {
  return JSON.stringify({ taskId })
}

export type DecodedTaskMessage = { ok: true; taskId: TaskId } | { ok: false; reason: string }

export function decodeTaskMessage(value: Buffer | null): DecodedTaskMessage {
  if (value === null || value.length === 0) return { ok: false, reason: 'empty value' }
  let json: unknown
  try {
    json = JSON.parse(value.toString('utf8'))
  } catch (err) {
    return { ok: false, reason: `value is not JSON: ${(err as Error).message}` }
  }
  const parsed = taskMessage.safeParse(json)
  if (parsed.success) return { ok: true, taskId: parsed.data.taskId }
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`)
  return { ok: false, reason: issues.join('; ') }
}
