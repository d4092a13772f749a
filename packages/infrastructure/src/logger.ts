import { type Logger, pino } from 'pino'

export type { Logger }

/** JSON lines to stdout; callers add `{ taskId }` and the like as fields, never inside the message. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { app: name } })
}
