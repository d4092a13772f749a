import { setTimeout as sleep } from 'node:timers/promises'
import type { Admin, Kafka } from 'kafkajs'

/**
 * Every topic the tasker touches. Names follow `<entity>.<past-tense-event>.v<n>`; the defaults
 * (`task.requested.v1`, `task.dead-lettered.v1`) live in config.ts so an environment can rename them.
 */
export type Topics = { readonly tasks: string; readonly deadLetters: string }

export function topicsFromConfig(config: { KAFKA_TOPIC_TASKS: string; KAFKA_TOPIC_DEAD_LETTERS: string }): Topics {
  return { tasks: config.KAFKA_TOPIC_TASKS, deadLetters: config.KAFKA_TOPIC_DEAD_LETTERS }
}

const LEADERS_DEADLINE_MS = 30_000

/**
 * Creates the topics that do not exist yet and returns once every partition of every topic has a leader.
 * Existing topics are left as they are (a partition count is never changed here). Safe to run from two
 * taskers at once: a topic the other one created first is as good as our own.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: Topics,
  settings: { partitions: number; replicationFactor: number },
): Promise<void> {
  const names = [topics.tasks, topics.deadLetters]
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const missing = names.filter((name) => !existing.has(name))
    if (missing.length > 0) {
      // kafkajs's own wait for leaders retries only "leader not available", and gives up on the "unknown topic or
      // partition" that a broker answers for a topic created a moment ago, ending the start-up; it also skips the
      // wait when someone else created the topics meanwhile. The wait below retries both, in every case.
      await admin.createTopics({
        topics: missing.map((topic) => ({
          topic,
          numPartitions: settings.partitions,
          replicationFactor: settings.replicationFactor,
        })),
        waitForLeaders: false,
      })
    }
    await waitForLeaders(admin, names)
  } finally {
    await admin.disconnect()
  }
}

async function waitForLeaders(admin: Admin, names: string[]): Promise<void> {
  const deadline = Date.now() + LEADERS_DEADLINE_MS
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names })
      if (topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return
    } catch (err) {
      lastError = err // a topic created a moment ago may not be known to every broker yet
    }
    await sleep(100)
  }
  throw new Error(`topics ${names.join(', ')} still have partitions without a leader`, { cause: lastError })
}
