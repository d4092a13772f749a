import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { type Percentiles, percentiles } from './stats.ts'

/** Milliseconds on CLOCK_MONOTONIC, which every process of the machine reads alike (the target stamps with it too). */
export const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6

export type OpenLoop = {
  /** The server's base URL; submissions go to POST /tasks. */
  url: string
  apiKey: string
  /** Submissions per second, spread evenly: the n-th leaves at n / rate s whether or not earlier ones were answered. */
  rate: number
  durationS: number
  /** Each submission's tag: unique per submission, carried by its task to the target. */
  markPrefix: string
  /** The submission body of the task tagged `mark`. */
  body: (mark: string) => string
}

export type OpenLoopResult = {
  submitted: number
  /** When each accepted submission's 201 reached this process, by mark. */
  acceptedAtMs: Map<string, number>
  /** Answers other than 201, and submissions that got no answer. */
  refused: number
  /** From the moment each submission was due to its answer: with an open loop, a stall shows as latency here. */
  answerMs: Percentiles
}

/**
 * Submits at a steady rate however the server answers (an open loop: autocannon's `overallRate` sends each second's
 * requests as one burst, and waits for answers before it sends more). Enough sockets that the client itself never
 * holds a submission back at these rates.
 */
export async function openLoop(load: OpenLoop): Promise<OpenLoopResult> {
  const { origin } = new URL(load.url)
  const pool = new Pool(origin, { connections: 100, pipelining: 1 })
  const acceptedAtMs = new Map<string, number>()
  const answerMs: number[] = []
  const pending = new Set<Promise<void>>()
  let refused = 0
  const total = Math.max(1, Math.round(load.rate * load.durationS))
  const startMs = monotonicMs()
  const dueMs = (n: number) => startMs + (n * 1000) / load.rate

  const submit = (n: number) => {
    const mark = `${load.markPrefix}${n}`
    const due = dueMs(n)
    const sent = pool
      .request({
        method: 'POST',
        path: '/tasks',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${load.apiKey}` },
        body: load.body(mark),
      })
      .then(async (res) => {
        const answeredAt = monotonicMs()
        await res.body.dump()
        answerMs.push(answeredAt - due)
        if (res.statusCode === 201) acceptedAtMs.set(mark, answeredAt)
        else refused++
      })
      .catch(() => {
        refused++
      })
      .finally(() => pending.delete(sent))
    pending.add(sent)
  }

  try {
    let next = 0
    while (next < total) {
      const now = monotonicMs()
      while (next < total && dueMs(next) <= now) submit(next++)
      if (next < total) await sleep(Math.max(0, dueMs(next) - monotonicMs()))
    }
    while (pending.size > 0) await Promise.all([...pending])
  } finally {
    await pool.close()
  }
  return { submitted: total, acceptedAtMs, refused, answerMs: percentiles(answerMs) }
}
