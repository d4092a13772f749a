import { Kafka, logLevel } from 'kafkajs'

export function benchKafka(brokers: string[], clientId: string): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.ERROR })
}

/**
 * Deletes the topics and consumer groups whose names start with `prefix` (this run's, or a dead run's). A group
 * whose member was killed stays non-empty until its session times out; it is left for the next run to delete.
 */
export async function deleteBenchKafkaState(brokers: string[], prefix: string): Promise<void> {
  const admin = benchKafka(brokers, 'bench-cleanup').admin()
  await admin.connect()
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 })
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix))
    for (const group of groups) await admin.deleteGroups([group]).catch(() => {})
  } finally {
    await admin.disconnect()
  }
}
