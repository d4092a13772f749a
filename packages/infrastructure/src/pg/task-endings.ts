import type { EndWatch, TaskEndings } from '@request-tasker/application'
import type { TaskId } from '@request-tasker/domain'
import type pg from 'pg'
import type { Logger } from '../logger.js'
import { listenForNotifications } from './outbox-listener.js'

/**
 * Where ended tasks are announced: by the tasker after it committed their outcomes (pgTaskEndNotifier, ids
 * comma-separated), and by the trigger tasks_notify_cancelled for each cancelled task (migration 1764700000000).
 */
export const TASK_ENDED_CHANNEL = 'task_ended'

export type ListeningTaskEndings = TaskEndings & {
  /** Waits parked now: long-polls that read their task and wait for news of it, holding nothing but a timer. */
  waiting(): number
  close(): Promise<void>
}

/**
 * One LISTEN connection for the whole process, and a map from task id to the waits on it: a notification wakes
 * exactly the waits of its task, and costs nothing per waiter that does not wait for it. After the connection was
 * lost and reopened every wait is woken, since notifications sent meanwhile are gone; each reads its task again.
 * Notifications reach every session of the database, so a task of another schema may come by: it wakes no one.
 */
export async function pgTaskEndings(source: pg.Pool | string, log: Logger): Promise<ListeningTaskEndings> {
  const watches = new Map<string, Set<() => void>>()
  let parked = 0
  const listener = await listenForNotifications(
    source,
    TASK_ENDED_CHANNEL,
    (payload) => {
      const ids = payload === null ? [...watches.keys()] : payload.split(',')
      for (const id of ids) for (const wake of [...(watches.get(id) ?? [])]) wake()
    },
    log,
  )

  function watch(id: TaskId): EndWatch {
    let pending = false // told before `next` was called: an end between the read and the wait
    let settle: (() => void) | null = null
    const wake = () => {
      if (settle) settle()
      else pending = true
    }
    const set = watches.get(id) ?? new Set<() => void>()
    watches.set(id, set)
    set.add(wake)
    let closed = false
    return {
      next(timeoutMs, signal) {
        if (pending || signal?.aborted) {
          pending = false
          return Promise.resolve()
        }
        parked++
        return new Promise<void>((resolve) => {
          const done = () => {
            parked--
            clearTimeout(timer)
            signal?.removeEventListener('abort', done)
            settle = null
            resolve()
          }
          const timer = setTimeout(done, timeoutMs)
          signal?.addEventListener('abort', done)
          settle = done
        })
      },
      close() {
        if (closed) return
        closed = true
        settle?.()
        set.delete(wake)
        if (set.size === 0 && watches.get(id) === set) watches.delete(id)
      },
    }
  }

  return { watch, waiting: () => parked, close: () => listener.close() }
}
