import type { BenchDatabase } from './database.ts'

/**
 * `count` tasks of the bench's API key straight into `tasks`, in one statement, numbered from `from`: sequential
 * ids, a host out of `hosts`, one second apart from 2026-01-01, and statuses spread as a busy key's would be (most
 * done, a few in error, new and scheduled). `status` pins them all to one instead.
 */
export async function insertTasks(
  db: BenchDatabase,
  { from = 1, count, hosts = 100, status }: { from?: number; count: number; hosts?: number; status?: string },
): Promise<void> {
  await db.pool.query(
    `insert into tasks (id, owner_key_id, method, url, request_headers, timeout_ms, status, attempts, budget_from,
                        max_attempts, backoff_base_ms, backoff_max_ms, retry_on, run_at, created_at, updated_at,
                        initial_status)
     select lpad(to_hex(g), 32, '0')::uuid, 'bench', 'GET', 'https://host' || (g % $3) || '.example/p/' || g, '[]',
            1000, s.status, 0, 0, 1, 1000, 600000, '{"statuses": [], "errors": []}',
            case when s.status = 'scheduled' then timestamptz '2027-01-01' end,
            timestamptz '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01' + g * interval '1 second', 'new'
     from generate_series($1::int, $1::int + $2::int - 1) g
     cross join lateral (
       select coalesce($4::text, case when g % 20 = 0 then 'error' when g % 33 = 0 then 'new'
                                      when g % 51 = 0 then 'scheduled' else 'done' end) as status
     ) s`,
    [from, count, hosts, status ?? null],
  )
  await db.pool.query('analyze tasks')
}

/** The id insertTasks gave its n-th task. */
export const taskIdOf = (n: number) =>
  n
    .toString(16)
    .padStart(32, '0')
    .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')
