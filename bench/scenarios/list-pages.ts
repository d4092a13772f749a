import { Agent, request } from 'undici'
import { API_KEY, startServer } from '../support/apps.ts'
import { type BenchContext, withDatabase } from '../support/context.ts'
import { insertTasks } from '../support/task-rows.ts'

/** Median time of a page of 100, per kind of page, at one table size. */
export type PageTimes = { rows: number; newest: number; deep: number; rareStatus: number; destination: number }
export type ListPagesResult = { small: PageTimes; large: PageTimes }

/**
 * S10: GET /tasks page times as the table grows, through the server: the newest page, a page 5 cursors deep, the
 * newest page of a 5 % status (`error`) and of one destination of 100. Measured with the table at the small size,
 * then again after it grew to the large one (one key holds every task): keyset pages on the per-filter indexes
 * should take the same time at both.
 */
export async function runListPages(ctx: BenchContext): Promise<ListPagesResult> {
  const { listSmallRows: small, listLargeRows: large } = ctx.sizes
  return withDatabase(ctx, 's10', async (db) => {
    await insertTasks(db, { count: small })
    const server = await startServer(ctx, db, 's10')
    const agent = new Agent({ connections: 1 })
    try {
      const first = await pageTimes(server.url, agent, small)
      await insertTasks(db, { from: small + 1, count: large - small })
      const second = await pageTimes(server.url, agent, large)
      server.proc.assertAlive()
      return { small: first, large: second }
    } finally {
      await agent.close()
      await server.proc.stop()
    }
  })
}

const DEEP_PAGES = 5

async function pageTimes(base: string, agent: Agent, rows: number): Promise<PageTimes> {
  const get = async (query: string) => {
    const started = performance.now()
    const res = await request(`${base}/tasks?${query}`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${API_KEY}` },
    })
    const body = (await res.body.json()) as { items: unknown[]; nextCursor: string | null }
    if (res.statusCode !== 200 || body.items.length === 0)
      throw new Error(`GET /tasks?${query} answered ${res.statusCode}`)
    return { ms: performance.now() - started, next: body.nextCursor }
  }
  const median = async (query: string) => {
    await get(query) // warm
    const times: number[] = []
    for (let i = 0; i < 30; i++) times.push((await get(query)).ms)
    return Math.round(times.sort((a, b) => a - b)[15]! * 100) / 100
  }
  // Half way down the table at the small size: the same depth at both sizes.
  let cursor: string | null = null
  for (let i = 0; i < DEEP_PAGES; i++) cursor = (await get(`limit=100${cursor ? `&cursor=${cursor}` : ''}`)).next
  return {
    rows,
    newest: await median('limit=100'),
    deep: await median(`limit=100&cursor=${cursor}`),
    rareStatus: await median('limit=100&status=error'),
    destination: await median('limit=100&destination=host7.example'),
  }
}
