import { randomBytes } from 'node:crypto'
import { API_KEY, startServer } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { type LoadResult, postLoad } from '../support/load.ts'
import { trackPeakRss } from '../support/memory.ts'

export type LargeSubmissionsResult = { load: LoadResult; bodyBytes: number; serverPeakRssBytes: number }

/**
 * S6: the server's peak RSS while many clients each POST a submission of about 1 MB (just under the default
 * BODY_LIMIT_BYTES) as fast as it answers them, with durability on. The body is random text, so Postgres cannot
 * compress it away. A 503 (request bytes in flight past MAX_INFLIGHT_REQUEST_BYTES) counts as an answer.
 */
export async function runLargeSubmissions(ctx: BenchContext): Promise<LargeSubmissionsResult> {
  return withDatabase(ctx, 's6', async (db) => {
    const server = await startServer(ctx, db, 's6')
    const peak = trackPeakRss(server.proc.pid)
    try {
      const body = JSON.stringify({
        method: 'POST',
        url: ctx.target.url(0),
        body: randomBytes(750_000).toString('base64'),
        timeoutMs: 10_000,
      })
      const load = await postLoad({
        url: `${server.url}/tasks`,
        body,
        headers: { authorization: `Bearer ${API_KEY}` },
        connections: ctx.sizes.largeConnections,
        durationS: ctx.sizes.largeSubmitS,
      })
      server.proc.assertAlive()
      return { load, bodyBytes: Buffer.byteLength(body), serverPeakRssBytes: peak.stop() }
    } finally {
      peak.stop()
      await server.proc.stop()
    }
  })
}
