import type { Admin } from 'kafkajs'
import type pg from 'pg'
import { assertMigrationsCurrent } from '../pg/migrate.js'

/** One dependency an app needs before it can do its work; rejects with what is wrong. */
export type ReadinessCheck = () => Promise<void>

export type Readiness =
  | { status: 'ok'; checks: Record<string, 'ok'> }
  | { status: 'failing'; checks: Record<string, 'ok' | 'failing'>; failures: Array<{ check: string; message: string }> }

/** A probe must answer before the orchestrator's own timeout, so a hung dependency counts as a failed one. */
export const READINESS_TIMEOUT_MS = 2_000

/** Runs every check at once, each bounded by `timeoutMs`. */
export async function checkReadiness(
  checks: Record<string, ReadinessCheck>,
  timeoutMs = READINESS_TIMEOUT_MS,
): Promise<Readiness> {
  const names = Object.keys(checks)
  const results = await Promise.allSettled(names.map((name) => withTimeout(checks[name]!(), timeoutMs)))
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ check: names[i]!, message: messageOf(r.reason) }] : [],
  )
  const checksOut = Object.fromEntries(
    names.map((name) => [name, failures.some((f) => f.check === name) ? 'failing' : 'ok'] as const),
  )
  if (failures.length === 0) return { status: 'ok', checks: checksOut as Record<string, 'ok'> }
  return { status: 'failing', checks: checksOut, failures }
}

/** Postgres answers, and holds every migration this build expects. */
export function postgresChecks(pool: pg.Pool, migrationsDir: string): Record<string, ReadinessCheck> {
  return {
    database: async () => {
      await pool.query('select 1')
    },
    migrations: () => assertMigrationsCurrent(pool, migrationsDir),
  }
}

/** A broker answers a metadata request. The admin client should not retry: the probe's timeout is the budget. */
export function kafkaCheck(admin: Admin): ReadinessCheck {
  return async () => {
    await admin.connect()
    await admin.describeCluster()
  }
}

/**
 * The 503 body: application/problem+json, each failed check named in `errors`. The reasons stay in the log:
 * they quote internal addresses, and the server's probe answers on its public port.
 */
export function notReadyProblem(readiness: Extract<Readiness, { status: 'failing' }>) {
  return {
    type: '/problems/not-ready',
    title: 'Not ready',
    status: 503,
    detail: `failing: ${readiness.failures.map((f) => f.check).join(', ')}`,
    errors: readiness.failures.map((f) => ({ path: f.check, message: `${f.check} check failed` })),
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

function messageOf(err: unknown): string {
  const message = err instanceof Error ? err.message || (err as { code?: string }).code || err.name : String(err)
  return message.slice(0, 300)
}
