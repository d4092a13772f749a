import type { Task, TaskSummary } from '@request-tasker/client'

/** Where a command writes: results to `out` (stdout), progress and errors to `err` (stderr). */
export type Io = {
  out: (text: string) => void
  err: (text: string) => void
  /** Whether stderr is a terminal: only then is a spinner drawn. */
  errIsTty: boolean
}

export function taskLines(task: Task): string[] {
  const lines = [`${task.id}  ${task.status}`]
  const last = task.attempts.at(-1)
  lines.push(`  created ${task.createdAt}, updated ${task.updatedAt}`)
  if (task.nextAttemptAt)
    lines.push(`  next attempt at ${task.nextAttemptAt}${task.waitReason ? ` (${task.waitReason})` : ''}`)
  lines.push(
    `  attempts ${task.attemptCount}${last ? `, last ${last.httpStatusCode ?? last.error?.code} in ${last.durationMs} ms` : ''}`,
  )
  if (task.httpStatusCode !== undefined) {
    lines.push(
      `  response ${task.httpStatusCode}, ${task.length ?? 0} bytes${task.bodyTruncated ? ' (stored in part)' : ''}`,
    )
    if (task.body) lines.push(`  body ${task.bodyEncoding === 'base64' ? '(base64) ' : ''}${preview(task.body)}`)
  }
  if (task.error) lines.push(`  error ${task.error.code}: ${task.error.message}`)
  return lines
}

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))

export function summaryLine(t: TaskSummary): string {
  const result = t.httpStatusCode ?? t.error?.code ?? ''
  return [t.id, pad(t.status, 10), pad(t.method, 7), pad(t.destination, 28), t.createdAt, result].join('  ').trimEnd()
}

export const SUMMARY_HEADER = [
  'ID'.padEnd(36),
  pad('STATUS', 10),
  pad('METHOD', 7),
  pad('DESTINATION', 28),
  pad('CREATED', 24),
  'RESULT',
].join('  ')

const preview = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s).replace(/\s+/g, ' ')

/** A spinner on stderr while `work` runs, only on a terminal; nothing at all otherwise. */
export async function withSpinner<T>(io: Io, label: string, work: Promise<T>): Promise<T> {
  if (!io.errIsTty) return work
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
  let i = 0
  const started = Date.now()
  const timer = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000)
    io.err(`\r${frames[i++ % frames.length]} ${label} ${seconds}s `)
  }, 100)
  try {
    return await work
  } finally {
    clearInterval(timer)
    io.err('\r\x1b[2K')
  }
}
