import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { dropDatabases, staleBenchDatabases } from './database.ts'
import { deleteBenchKafkaState } from './kafka.ts'

export type Services = { DATABASE_URL: string; KAFKA_BROKERS: string }

/** DATABASE_URL and KAFKA_BROKERS from the environment, else from scripts/infra.sh, which starts them if needed. */
export function localServices(root: string): Services {
  const { DATABASE_URL, KAFKA_BROKERS } = process.env
  if (DATABASE_URL && KAFKA_BROKERS) return { DATABASE_URL, KAFKA_BROKERS }
  const out = execFileSync('bash', [join(root, 'scripts/infra.sh'), 'up'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const env = Object.fromEntries(out.split('\n').map((l) => l.split('=', 2) as [string, string]))
  if (!env.DATABASE_URL || !env.KAFKA_BROKERS) throw new Error(`scripts/infra.sh up printed no addresses:\n${out}`)
  return { DATABASE_URL: env.DATABASE_URL, KAFKA_BROKERS: env.KAFKA_BROKERS }
}

/** Databases, topics and groups of earlier runs that died before cleaning up (every name starts with bench). */
export async function removeDeadRuns(databaseUrl: string, brokers: string[]): Promise<void> {
  await dropDatabases(databaseUrl, await staleBenchDatabases(databaseUrl, 'bench\\_'))
  await deleteBenchKafkaState(brokers, 'bench.')
}
