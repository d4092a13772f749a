import { execFile, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll } from 'vitest'

const INFRA = fileURLToPath(new URL('../../scripts/infra.sh', import.meta.url))
const run = promisify(execFile)

export type Service = 'pg' | 'kafka'
export type PrivateInfra = {
  readonly databaseUrl: string
  readonly kafkaBrokers: string
  /** Stops one service (Postgres fast, Kafka by a controlled shutdown); its data and port stay. */
  down(service: Service): Promise<void>
  /** Starts it again on the same port with the same data, once it answers. */
  up(service: Service): Promise<void>
}

/**
 * A Postgres and a Kafka of this test file's own, started by scripts/infra.sh in a temporary state dir
 * (RT_LOCAL_DIR): a test may stop and restart them without touching the services every other test shares.
 * Call it before useE2e, so they are up before its beforeAll and down after its afterAll.
 */
export function usePrivateInfra(): PrivateInfra {
  let dir = ''
  let env: Record<string, string> = {}
  const infra = async (...args: string[]) => {
    await run('bash', [INFRA, ...args], { env: { ...process.env, RT_LOCAL_DIR: dir }, timeout: 120_000 })
  }
  // The services run detached (setsid): a worker that dies before afterAll must still not leave them behind.
  const downNow = () => {
    spawnSync('bash', [INFRA, 'down'], { env: { ...process.env, RT_LOCAL_DIR: dir }, stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  }
  beforeAll(async () => {
    dir = mkdtempSync(`${tmpdir()}/rt-infra-`)
    chmodSync(dir, 0o755) // the postgres user keeps its data dir in here
    process.once('exit', downNow)
    await infra('up')
    env = Object.fromEntries(
      readFileSync(`${dir}/infra.env`, 'utf8')
        .trim()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    )
  }, 180_000)
  afterAll(async () => {
    if (!dir) return
    process.off('exit', downNow)
    await infra('down')
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)
  const value = (name: string) => {
    const v = env[name]
    if (!v) throw new Error(`usePrivateInfra: no ${name} (used before its beforeAll ran?)`)
    return v
  }
  return {
    get databaseUrl() {
      return value('DATABASE_URL')
    },
    get kafkaBrokers() {
      return value('KAFKA_BROKERS')
    },
    down: (service) => infra('down', service),
    up: (service) => infra('up', service),
  }
}
