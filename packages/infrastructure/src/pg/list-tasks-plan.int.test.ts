import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../testing/test-database.js'
import { LIST_TASKS_SQL } from './list-tasks.js'
import { filterParams } from './task-filter-sql.js'

// GET /tasks must read a page from an index in its own order, whatever the table holds: with a million tasks in
// the table (99 % of one key's), each filter's plan is an index scan under the Limit, with no Sort and no
// sequential scan. The plan is asserted, not timed: the bench (S10) gives the page times.
const ROWS = 1_000_000
let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase('list-plan')
  // Sequential ids keep the primary key's inserts cheap; statuses, hosts and times spread as a busy key's would.
  await db.pool.query(`
    insert into tasks (id, owner_key_id, method, url, request_headers, timeout_ms, status, attempts, budget_from,
                       max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, updated_at,
                       initial_status)
    select lpad(to_hex(g), 32, '0')::uuid, case when g % 100 = 0 then 'small' else 'big' end, 'GET',
           'https://host' || (g % 100) || '.example/p/' || g, '[]', 1000,
           s.status, 1, 0, 1, 1000, 600000, '{"statuses": [], "errors": []}',
           case when s.status = 'scheduled' then timestamptz '2026-03-01' end,
           timestamptz '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01' + g * interval '1 second', 'new'
    from generate_series(1, ${ROWS}) g
    cross join lateral (
      select case when g % 20 = 0 then 'error' when g % 33 = 0 then 'new' when g % 51 = 0 then 'scheduled'
                  else 'done' end as status
    ) s`)
  await db.pool.query('analyze tasks')
}, 300_000)
afterAll(async () => {
  await db?.close()
})

type PlanNode = { 'Node Type': string; 'Index Name'?: string; Plans?: PlanNode[] }

async function planOf(
  owner: string,
  filter: Parameters<typeof filterParams>[1],
  after: [string, string] | null = null,
) {
  const { rows } = await db.pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `explain (format json) ${LIST_TASKS_SQL}`,
    [...filterParams(owner, filter), after?.[0] ?? null, after?.[1] ?? null, 101],
  )
  const nodes: PlanNode[] = []
  const walk = (n: PlanNode) => {
    nodes.push(n)
    for (const child of n.Plans ?? []) walk(child)
  }
  const root = rows[0]!['QUERY PLAN'][0]!.Plan
  walk(root)
  return {
    root: root['Node Type'],
    types: nodes.map((n) => n['Node Type']),
    indexes: nodes.map((n) => n['Index Name']),
  }
}

describe('the list query over a million tasks', () => {
  it('has a million rows to plan over', async () => {
    const { rows } = await db.pool.query('select count(*)::int as n from tasks')
    expect(rows[0].n).toBe(ROWS)
  })

  it.each([
    ['no filter', 'big', {}, 'tasks_owner_created_idx'],
    ['a rare status', 'big', { statuses: ['error' as const] }, 'tasks_owner_status_created_idx'],
    ['a destination', 'big', { destination: 'host7.example' }, 'tasks_owner_destination_created_idx'],
    [
      'a creation window',
      'big',
      { createdAfter: new Date('2026-01-05'), createdBefore: new Date('2026-01-06') },
      'tasks_owner_created_idx',
    ],
    ['a small key', 'small', {}, 'tasks_owner_created_idx'],
  ])(
    'reads a page with %s from its index in order, no sort, no sequential scan',
    async (_name, owner, filter, index) => {
      const plan = await planOf(owner, filter)
      expect(plan.root).toBe('Limit')
      expect(plan.indexes).toContain(index)
      expect(plan.types).not.toContain('Sort')
      expect(plan.types).not.toContain('Seq Scan')
      expect(plan.types).not.toContain('Bitmap Heap Scan')
    },
  )

  it('reads a page deep in the table by its cursor from the same index', async () => {
    const deep = await planOf('big', { statuses: ['done'] }, [
      '1767312000000000',
      '00000000-0000-0000-0000-000000001000',
    ])
    expect(deep.root).toBe('Limit')
    expect(deep.indexes).toContain('tasks_owner_status_created_idx')
    expect(deep.types).not.toContain('Sort')
    expect(deep.types).not.toContain('Seq Scan')
  })
})
