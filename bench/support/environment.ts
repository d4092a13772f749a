import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import kafkajs from 'kafkajs'
import pg from 'pg'

/** What the figures were measured on: they mean little without it. */
export type Environment = {
  machine: { cpu: string; cores: number; memoryGb: number; kernel: string }
  node: string
  postgres: { version: string; fsync: string; synchronousCommit: string; walSyncMethod: string }
  kafka: { version: string; brokerSettings: Record<string, string>; producer: string }
}

// kafkajs is CommonJS, and Node's named-export detection misses ConfigResourceTypes.
const { ConfigResourceTypes, Kafka, logLevel } = kafkajs
const KAFKA_LOGS = ['server.log', 'server.log.1'].map((f) =>
  fileURLToPath(new URL(`../../.local/kafka/${f}`, import.meta.url)),
)

export async function describeEnvironment(databaseUrl: string, brokers: string[]): Promise<Environment> {
  return {
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      kernel: release(),
    },
    node: process.version,
    postgres: await describePostgres(databaseUrl),
    kafka: {
      version: kafkaVersion(),
      brokerSettings: await brokerSettings(brokers),
      producer: 'kafkajs 2.2.4, acks=all (-1), idempotent, maxInFlightRequests=1',
    },
  }
}

async function describePostgres(databaseUrl: string): Promise<Environment['postgres']> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const show = async (sql: string) => Object.values((await client.query(sql)).rows[0] as object)[0] as string
    return {
      version: await show('select version()'),
      fsync: await show('show fsync'),
      synchronousCommit: await show('show synchronous_commit'),
      walSyncMethod: await show('show wal_sync_method'),
    }
  } finally {
    await client.end()
  }
}

// kafkajs cannot ask a broker for its release; the local broker (scripts/infra.sh) logs it at start.
function kafkaVersion(): string {
  for (const file of KAFKA_LOGS) {
    try {
      const match = /Kafka version: (\S+)/.exec(readFileSync(file, 'utf8'))
      if (match) return match[1]!
    } catch {
      // not started by scripts/infra.sh
    }
  }
  return 'unknown (broker not started by scripts/infra.sh)'
}

const BROKER_SETTINGS = [
  'min.insync.replicas',
  'default.replication.factor',
  'log.flush.interval.messages',
  'log.flush.interval.ms',
  'unclean.leader.election.enable',
]

async function brokerSettings(brokers: string[]): Promise<Record<string, string>> {
  const admin = new Kafka({ clientId: 'bench-env', brokers, logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    const { brokers: nodes } = await admin.describeCluster()
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.BROKER, name: String(nodes[0]?.nodeId ?? 1), configNames: BROKER_SETTINGS },
      ],
    })
    const entries = resources[0]?.configEntries ?? []
    return Object.fromEntries(entries.map((e) => [e.configName, e.configValue]))
  } finally {
    await admin.disconnect()
  }
}
