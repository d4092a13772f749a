import { Agent } from 'undici'
import type { BenchContext } from '../support/context.ts'

export type RawSendResult = { rate: number; requests: number; failed: number; inFlight: number; connections: number }

/**
 * B2: the send ceiling — raw undici GETs to the fast target, SEND_CONCURRENCY in flight, through an agent set up
 * as the tasker's (HTTP_CONNECTIONS_PER_ORIGIN sockets, no pipelining).
 */
export async function runRawSend(ctx: BenchContext): Promise<RawSendResult> {
  const inFlight = ctx.tasker.SEND_CONCURRENCY
  const connections = ctx.tasker.HTTP_CONNECTIONS_PER_ORIGIN
  const agent = new Agent({ connections, pipelining: 1 })
  const { origin, pathname, search } = new URL(ctx.target.url(0))
  let failed = 0

  async function send(count: number): Promise<void> {
    let left = count
    const worker = async () => {
      while (left > 0) {
        left--
        try {
          const res = await agent.request({
            origin,
            path: `${pathname}${search}`,
            method: 'GET',
            headers: ['accept', 'text/plain'],
          })
          for await (const _ of res.body) {
            // read to the end, as the tasker does
          }
          if (res.statusCode !== 200) failed++
        } catch {
          failed++
        }
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
  }

  try {
    await send(Math.min(2_000, ctx.sizes.rawSends)) // warm-up: sockets open, JIT compiled
    failed = 0
    const started = performance.now()
    await send(ctx.sizes.rawSends)
    const seconds = (performance.now() - started) / 1000
    return {
      rate: (ctx.sizes.rawSends - failed) / seconds,
      requests: ctx.sizes.rawSends,
      failed,
      inFlight,
      connections,
    }
  } finally {
    await agent.close()
  }
}
