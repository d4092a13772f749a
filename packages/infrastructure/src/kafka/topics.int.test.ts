import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../logger.js'
import '../../testing/test-kafka.js' // types inject('kafkaBrokers')
import { createKafka } from './clients.js'
import { ensureTopics } from './topics.js'

describe('ensureTopics', () => {
  const prefix = `test.ensure-topics.${randomBytes(4).toString('hex')}`
  const topics = { tasks: `${prefix}.requested.v1`, deadLetters: `${prefix}.dead-lettered.v1` }
  const kafka = createKafka({
    brokers: inject('kafkaBrokers').split(','),
    clientId: prefix,
    log: createLogger(prefix, 'warn'),
  })
  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({ topics: [topics.tasks, topics.deadLetters] })
    await admin.disconnect()
  })

  it('creates missing topics once when two taskers race, and leaves existing ones alone afterwards', async () => {
    const settings = { partitions: 3, replicationFactor: 1 }
    await Promise.all([ensureTopics(kafka, topics, settings), ensureTopics(kafka, topics, settings)])
    await ensureTopics(kafka, topics, { partitions: 5, replicationFactor: 1 })

    const admin = kafka.admin()
    await admin.connect()
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topics.tasks, topics.deadLetters] })
      const counts = Object.fromEntries(metadata.topics.map((t) => [t.name, t.partitions.length]))
      expect(counts).toEqual({ [topics.tasks]: 3, [topics.deadLetters]: 3 })
    } finally {
      await admin.disconnect()
    }
  })
})
