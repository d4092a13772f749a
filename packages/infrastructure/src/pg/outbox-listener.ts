import pg from 'pg'
import type { Logger } from '../logger.js'
import { OUTBOX_CHANNEL } from './outbox-notifier.js'

export type OutboxListener = { close(): Promise<void> }
export type NotificationListener = OutboxListener

type Session = { client: pg.ClientBase; end(err?: Error): Promise<void> }

/**
 * Calls `onNotify` whenever a committed transaction added outbox entries. A lost connection is reopened with
 * capped exponential backoff, and `onNotify` is then called once, since notifications sent meanwhile are gone.
 * Resolves once listening; rejects if the first connection fails.
 */
export function listenForOutbox(
  source: pg.Pool | string,
  onNotify: () => void,
  log: Logger,
  backoff: { initialMs: number; maxMs: number } = { initialMs: 100, maxMs: 10_000 },
): Promise<OutboxListener> {
  return listenForNotifications(source, OUTBOX_CHANNEL, () => onNotify(), log, backoff)
}

/**
 * Calls `onNotify(payload)` for each notification on `channel`, and `onNotify(null)` after a lost connection was
 * reopened (with capped exponential backoff), since notifications sent meanwhile are gone. Resolves once
 * listening; rejects if the first connection fails. `channel` is one of ours, never a client's text.
 */
export async function listenForNotifications(
  source: pg.Pool | string,
  channel: string,
  onNotify: (payload: string | null) => void,
  log: Logger,
  backoff: { initialMs: number; maxMs: number } = { initialMs: 100, maxMs: 10_000 },
): Promise<NotificationListener> {
  let closed = false
  let session: Session | undefined
  let retryTimer: NodeJS.Timeout | undefined
  let reconnecting: Promise<void> | undefined

  async function listen(): Promise<Session> {
    const opened = await openSession(source)
    let live = false
    const onLost = (err: Error) => {
      if (!live || closed) return
      live = false
      if (session === opened) session = undefined
      void opened.end(err)
      log.warn({ err, channel }, 'notification listener lost its connection')
      scheduleReconnect(backoff.initialMs)
    }
    // Attached before LISTEN: an 'error' event with no listener would end the process.
    opened.client.on('error', onLost)
    opened.client.on('end', () => onLost(new Error('connection ended')))
    opened.client.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '')
    })
    try {
      await opened.client.query(`listen ${channel}`)
    } catch (err) {
      await opened.end(err as Error)
      throw err
    }
    live = true
    return opened
  }

  function scheduleReconnect(delayMs: number): void {
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      reconnecting = reconnect(delayMs).finally(() => {
        reconnecting = undefined
      })
    }, delayMs)
    retryTimer.unref()
  }

  async function reconnect(delayMs: number): Promise<void> {
    try {
      const opened = await listen()
      if (closed) return await opened.end()
      session = opened
      log.info({ channel }, 'notification listener reconnected')
      onNotify(null)
    } catch (err) {
      if (closed) return
      const nextMs = Math.min(delayMs * 2, backoff.maxMs)
      log.warn({ err, channel, retryInMs: nextMs }, 'notification listener could not reconnect')
      scheduleReconnect(nextMs)
    }
  }

  session = await listen()
  return {
    async close() {
      closed = true
      clearTimeout(retryTimer)
      await reconnecting
      await session?.end()
      session = undefined
    },
  }
}

// LISTEN belongs to one session, so the listener holds a connection of its own for as long as it runs.
async function openSession(source: pg.Pool | string): Promise<Session> {
  if (typeof source === 'string') {
    const client = new pg.Client({ connectionString: source })
    await client.connect()
    return { client, end: () => client.end().catch(() => {}) }
  }
  const client = await source.connect()
  let released = false
  return {
    client,
    async end() {
      if (released) return
      released = true
      // Always discarded, never returned: a pooled connection still listening would keep collecting notifications.
      client.release(true)
    },
  }
}
