import { randomBytes } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { inject } from 'vitest'
import { createKafka } from '../src/kafka/clients.js'
import { ensureTopics, type Topics } from '../src/kafka/topics.js'
import { createLogger } from '../src/logger.js'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
  }
}

export const TEST_PARTITIONS = 3

export type TestTopics = {
  topics: Topics
  /** A client for this test file, logging kafkajs warnings and errors only. */
  kafka: Kafka
  /** A consumer group id nobody else uses; each call gives a new one. */
  groupId(label?: string): string
  /** Deletes both topics. */
  cleanup(): Promise<void>
}

/**
 * Topics of its own (`test.<name>.<random>.requested.v1` and `….dead-lettered.v1`, 3 partitions each) so test files
 * share one broker and run in parallel without reading each other's messages. Created by the production ensureTopics.
 */
export async function createTestTopics(name: string, brokers = inject('kafkaBrokers')): Promise<TestTopics> {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 40)
  const prefix = `test.${slug}.${randomBytes(4).toString('hex')}`
  const topics = { tasks: `${prefix}.requested.v1`, deadLetters: `${prefix}.dead-lettered.v1` }
  const kafka = createKafka({ brokers: brokers.split(','), clientId: prefix, log: createLogger(prefix, 'warn') })
  await ensureTopics(kafka, topics, { partitions: TEST_PARTITIONS, replicationFactor: 1 })
  let groups = 0
  return {
    topics,
    kafka,
    groupId: (label = 'group') => `${prefix}.${label}.${++groups}`,
    async cleanup() {
      const admin = kafka.admin()
      await admin.connect()
      try {
        await admin.deleteTopics({ topics: [topics.tasks, topics.deadLetters] })
      } finally {
        await admin.disconnect()
      }
    },
  }
}
