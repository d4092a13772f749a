import { isDatabaseUnavailable, QUEUE_TIMEOUT_MESSAGE } from './database-unavailable.js'

export type WriteBatcher<T> = {
  /** Resolves once `item` is committed, alone or with others; rejects with the error of the write that held it. */
  write(item: T): Promise<void>
  /** Items waiting for a free slot: pressure that a pool's own queue no longer shows. */
  queued(): number
}

type Entry<T> = { item: T; queuedAt: number; resolve: () => void; reject: (err: unknown) => void }

/**
 * Group commit in the application: while `maxInFlight` writes are running, new items queue, and the next free slot
 * writes up to `maxBatch` of them in one statement. Under light load every item goes alone, at once, with no wait
 * added; under heavy load one transaction and one round trip serve many, which is where Postgres spent most of
 * its time per item. A batch that fails for a reason other than a lost database is written again item by item, so
 * one bad item fails only its own caller. An item still queued after `maxQueueMs` is dropped, never written, and its
 * caller hears that the database is unavailable, as a pool checkout that waited too long would say.
 */
export function writeBatcher<T>(
  { writeOne, writeMany }: { writeOne: (item: T) => Promise<unknown>; writeMany: (items: T[]) => Promise<unknown> },
  { maxInFlight, maxBatch, maxQueueMs }: { maxInFlight: number; maxBatch: number; maxQueueMs?: number },
): WriteBatcher<T> {
  const queue: Entry<T>[] = []
  let inFlight = 0
  let expiry: NodeJS.Timeout | undefined

  // One timer at a time, for the oldest queued item: the queue is in arrival order.
  function expireLater(): void {
    if (maxQueueMs === undefined || expiry !== undefined || queue.length === 0) return
    const oldest = (queue[0] as Entry<T>).queuedAt
    expiry = setTimeout(
      () => {
        expiry = undefined
        const limit = Date.now() - maxQueueMs
        let expired = 0
        while (expired < queue.length && (queue[expired] as Entry<T>).queuedAt <= limit) expired++
        for (const e of queue.splice(0, expired)) e.reject(new Error(QUEUE_TIMEOUT_MESSAGE))
        expireLater()
      },
      Math.max(0, oldest + maxQueueMs - Date.now()),
    )
    expiry.unref()
  }

  function next(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch)
      inFlight++
      void run(batch).finally(() => {
        inFlight--
        next()
      })
    }
  }

  async function run(batch: Entry<T>[]): Promise<void> {
    try {
      if (batch.length === 1) await writeOne((batch[0] as Entry<T>).item)
      else await writeMany(batch.map((e) => e.item))
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        for (const e of batch) e.reject(err)
        return
      }
      // Through a resolved promise: an item that throws before it even reaches the database fails alone too.
      await Promise.all(batch.map((e) => Promise.resolve(e.item).then(writeOne).then(e.resolve, e.reject)))
      return
    }
    for (const e of batch) e.resolve()
  }

  return {
    write(item) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, queuedAt: Date.now(), resolve, reject })
        next()
        expireLater()
      })
    },
    queued: () => queue.length,
  }
}
