import type { TestProject } from 'vitest/node'

// Integration and end-to-end tests need a real Postgres and a real Kafka. They take them from DATABASE_URL and
// KAFKA_BROKERS when set (`task test` starts local services and sets both), else start them with testcontainers.
// With neither they fail, never skip: a skipped suite would read as a passing one.
export default async function setup(project: TestProject) {
  const fromEnv = process.env.DATABASE_URL && process.env.KAFKA_BROKERS
  if (fromEnv) {
    project.provide('databaseUrl', process.env.DATABASE_URL as string)
    project.provide('kafkaBrokers', process.env.KAFKA_BROKERS as string)
    return
  }
  const started = await startContainers().catch((err: Error) => {
    throw new Error(
      'Integration tests need Postgres and Kafka. Set DATABASE_URL and KAFKA_BROKERS, or run them through ' +
        '`./scripts/task test`, which starts local services (scripts/infra.sh). testcontainers could not start ' +
        `containers either: ${err.message}`,
    )
  })
  project.provide('databaseUrl', started.databaseUrl)
  project.provide('kafkaBrokers', started.kafkaBrokers)
  return started.stop
}

async function startContainers() {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const { KafkaContainer } = await import('@testcontainers/kafka')
  const [pg, kafka] = await Promise.all([
    new PostgreSqlContainer('postgres:15-alpine').start(),
    new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start(),
  ])
  return {
    databaseUrl: pg.getConnectionUri(),
    kafkaBrokers: `${kafka.getHost()}:${kafka.getMappedPort(9093)}`,
    stop: async () => {
      await Promise.all([pg.stop(), kafka.stop()])
    },
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
    kafkaBrokers: string
  }
}
