import { describe, expect, it, vi } from 'vitest'
import { groupCommit } from './group-commit.js'

const unavailable = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
const isUnavailable = (err: unknown) => err === unavailable

/** A write whose calls wait until released, recording what each call wrote; each input's output is its double. */
function gatedWrite(failOn: (inputs: number[]) => Error | null = () => null) {
  const calls: number[][] = []
  const gates: Array<() => void> = []
  const write = (inputs: number[]) => {
    calls.push(inputs)
    return new Promise<number[]>((resolve, reject) => {
      gates.push(() => {
        const err = failOn(inputs)
        if (err) reject(err)
        else resolve(inputs.map((n) => n * 2))
      })
    })
  }
  return {
    calls,
    write,
    /** Lets every call so far finish, then lets their callbacks run. */
    async release() {
      for (const open of gates.splice(0)) open()
      await new Promise((r) => setImmediate(r))
    },
  }
}

const settled = (p: Promise<unknown>) =>
  p.then(
    (out) => out,
    (err: Error) => err.message,
  )

describe('groupCommit', () => {
  it('writes each input alone and at once while writes are free, and answers each caller its own output', async () => {
    const w = gatedWrite()
    const commit = groupCommit(w.write, { maxBatch: 10, maxInFlight: 2, isUnavailable })

    const done = [commit(1), commit(2)]
    expect(w.calls).toEqual([[1], [2]])
    await w.release()
    expect(await Promise.all(done)).toEqual([2, 4])
  })

  it('queues inputs while every write is busy and writes them together, at most maxBatch at a time', async () => {
    const w = gatedWrite()
    const commit = groupCommit(w.write, { maxBatch: 3, isUnavailable })
    const resolved: number[] = []
    const done = [1, 2, 3, 4, 5].map((n) => commit(n).then(() => resolved.push(n)))

    expect(commit.queued()).toBe(4)
    await w.release()
    expect(resolved).toEqual([1])
    expect(w.calls).toEqual([[1], [2, 3, 4]])
    await w.release()
    await w.release()
    await Promise.all(done)

    expect(w.calls).toEqual([[1], [2, 3, 4], [5]])
    expect(resolved).toEqual([1, 2, 3, 4, 5])
    expect(commit.queued()).toBe(0)
  })

  it('fills a write up to maxWeight, and lets an input heavier than that go alone', async () => {
    const w = gatedWrite()
    const commit = groupCommit(w.write, { maxBatch: 10, maxWeight: 10, weigh: (n) => n, isUnavailable })

    const done = [1, 4, 5, 2, 30, 3].map((n) => commit(n))
    for (let i = 0; i < 5; i++) await w.release()
    await Promise.all(done)

    expect(w.calls).toEqual([[1], [4, 5], [2], [30], [3]])
  })

  it('writes a failed batch again input by input, so only the bad input fails its caller', async () => {
    const w = gatedWrite((inputs) => (inputs.includes(3) ? new Error('check violation') : null))
    const commit = groupCommit(w.write, { maxBatch: 10, isUnavailable })

    const outcomes = [1, 2, 3, 4].map((n) => settled(commit(n)))
    await w.release() // 1 alone
    await w.release() // 2, 3, 4 together: fails
    await w.release() // 2, 3, 4 each alone

    expect(await Promise.all(outcomes)).toEqual([2, 4, 'check violation', 8])
    expect(w.calls).toEqual([[1], [2, 3, 4], [2], [3], [4]])
  })

  it('fails the whole batch at once when the store is unreachable, without writing again', async () => {
    const w = gatedWrite((inputs) => (inputs.length > 1 ? unavailable : null))
    const commit = groupCommit(w.write, { maxBatch: 10, isUnavailable })

    const outcomes = [1, 2, 3].map((n) => settled(commit(n)))
    await w.release()
    await w.release()

    expect(await Promise.all(outcomes)).toEqual([2, 'connect ECONNREFUSED', 'connect ECONNREFUSED'])
    expect(w.calls).toEqual([[1], [2, 3]])
  })

  it('drops an input that waited maxQueueMs for a write, unwritten, with the queue timeout error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const w = gatedWrite()
      const queueTimeout = () => new Error('waited too long for a write')
      const commit = groupCommit(w.write, { maxBatch: 10, maxQueueMs: 100, queueTimeout, isUnavailable })
      const first = settled(commit(1))
      const late = settled(commit(2))
      await vi.advanceTimersByTimeAsync(50)
      const later = settled(commit(3))

      await vi.advanceTimersByTimeAsync(60)
      expect(await late).toBe('waited too long for a write')
      expect(commit.queued()).toBe(1)
      await vi.advanceTimersByTimeAsync(50)
      expect(await later).toBe('waited too long for a write')

      await w.release()
      expect(await first).toBe(2)
      expect(w.calls).toEqual([[1]])
    } finally {
      vi.useRealTimers()
    }
  })
})
