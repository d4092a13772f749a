import { describe, expect, it, vi } from 'vitest'
import { isDatabaseUnavailable } from './database-unavailable.js'
import { writeBatcher } from './write-batcher.js'

/** A writer whose calls wait until released, recording what each call wrote. */
function gatedWriter(failOn: (items: number[]) => Error | null = () => null) {
  const calls: number[][] = []
  const gates: Array<() => void> = []
  const write = (items: number[]) => {
    calls.push(items)
    return new Promise<void>((resolve, reject) => {
      gates.push(() => {
        const err = failOn(items)
        if (err) reject(err)
        else resolve()
      })
    })
  }
  return {
    calls,
    writeOne: (item: number) => write([item]),
    writeMany: (items: number[]) => write(items),
    /** Lets every call so far finish, then lets their callbacks run. */
    async release() {
      for (const open of gates.splice(0)) open()
      await new Promise((r) => setImmediate(r))
    },
  }
}

const settled = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (err: Error) => err.message,
  )

describe('writeBatcher', () => {
  it('writes each item alone and at once while slots are free', async () => {
    const w = gatedWriter()
    const batcher = writeBatcher(w, { maxInFlight: 2, maxBatch: 10 })

    const done = [batcher.write(1), batcher.write(2)]
    expect(w.calls).toEqual([[1], [2]])
    await w.release()
    await Promise.all(done)
  })

  it('queues items while every slot is busy and writes them together, at most maxBatch at a time', async () => {
    const w = gatedWriter()
    const batcher = writeBatcher(w, { maxInFlight: 1, maxBatch: 3 })
    const resolved: number[] = []
    const write = (n: number) => batcher.write(n).then(() => resolved.push(n))

    const done = [1, 2, 3, 4, 5].map(write)
    expect(batcher.queued()).toBe(4)
    await w.release()
    expect(resolved).toEqual([1])
    expect(w.calls).toEqual([[1], [2, 3, 4]])
    await w.release()
    await w.release()
    await Promise.all(done)

    expect(w.calls).toEqual([[1], [2, 3, 4], [5]])
    expect(resolved).toEqual([1, 2, 3, 4, 5])
    expect(batcher.queued()).toBe(0)
  })

  it('writes a failed batch again item by item, so only the bad item fails its caller', async () => {
    const w = gatedWriter((items) => (items.includes(3) ? new Error('check violation') : null))
    const batcher = writeBatcher(w, { maxInFlight: 1, maxBatch: 10 })

    const outcomes = [1, 2, 3, 4].map((n) => settled(batcher.write(n)))
    await w.release() // 1 alone
    await w.release() // 2, 3, 4 together: fails
    await w.release() // 2, 3, 4 each alone

    expect(await Promise.all(outcomes)).toEqual(['ok', 'ok', 'check violation', 'ok'])
    expect(w.calls).toEqual([[1], [2, 3, 4], [2], [3], [4]])
  })

  it('fails the whole batch at once when the database is unavailable, without writing again', async () => {
    const unavailable = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    const w = gatedWriter((items) => (items.length > 1 ? unavailable : null))
    const batcher = writeBatcher(w, { maxInFlight: 1, maxBatch: 10 })

    const outcomes = [1, 2, 3].map((n) => settled(batcher.write(n)))
    await w.release()
    await w.release()

    expect(await Promise.all(outcomes)).toEqual(['ok', 'connect ECONNREFUSED', 'connect ECONNREFUSED'])
    expect(w.calls).toEqual([[1], [2, 3]])
  })

  it('drops an item that waited maxQueueMs for a slot, unwritten, as the database being unavailable', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const w = gatedWriter()
      const batcher = writeBatcher(w, { maxInFlight: 1, maxBatch: 10, maxQueueMs: 100 })
      const first = settled(batcher.write(1))
      const late = batcher.write(2).catch((err: unknown) => err)
      await vi.advanceTimersByTimeAsync(50)
      const later = batcher.write(3).catch((err: unknown) => err)

      await vi.advanceTimersByTimeAsync(60)
      expect(isDatabaseUnavailable(await late)).toBe(true)
      expect(batcher.queued()).toBe(1)
      await vi.advanceTimersByTimeAsync(50)
      expect(isDatabaseUnavailable(await later)).toBe(true)

      await w.release()
      expect(await first).toBe('ok')
      expect(w.calls).toEqual([[1]])
    } finally {
      vi.useRealTimers()
    }
  })
})
