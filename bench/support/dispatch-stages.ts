import type { BenchDatabase } from './database.ts'
import { benchKafka } from './kafka.ts'
import { type Percentiles, percentiles } from './stats.ts'

/**
 * Where a task's dispatch time went, from stamps the pipeline leaves anyway (all wall clock of this machine):
 * - relay: the 201 reaching the client → the relay producing its message (Kafka CreateTime, stamped by kafkajs as it
 *   builds the produce request): the commit, the NOTIFY, the relay waking and reading the outbox. Negative when the
 *   relay read the entry before the client had its answer.
 * - kafka: that stamp → the claim statement starting (its task_statuses `at`, Postgres's now()): the produce with
 *   acks=all, the consumer's fetch, the batch handed over, waits for room and for the claim batcher.
 * - send: the claim's start → the request reaching the target: the claim's own statement and commit, then the send.
 */
export type DispatchStages = { relayMs: Percentiles; kafkaMs: Percentiles; sendMs: Percentiles }

type Tagged = { acceptedWallMs: number; arrivedWallMs: number }

export async function dispatchStages(
  db: BenchDatabase,
  brokers: string[],
  topic: string,
  markPrefix: string,
  tagged: Map<string, Tagged>,
): Promise<DispatchStages> {
  const { rows } = await db.pool.query<{ id: string; url: string; claimed: Date | null }>(
    `select t.id, t.url,
            (select min(s.at) from task_statuses s where s.task_id = t.id and s.status = 'in_process') as claimed
     from tasks t where t.url like '%mark=' || $1 || '%'`,
    [markPrefix],
  )
  const produced = await producedAt(brokers, topic, new Set(rows.map((r) => r.id)))
  const relay: number[] = []
  const kafka: number[] = []
  const send: number[] = []
  for (const row of rows) {
    const mark = new URL(row.url).searchParams.get('mark')
    const times = mark === null ? undefined : tagged.get(mark)
    const producedMs = produced.get(row.id)
    if (!times || producedMs === undefined || row.claimed === null) continue
    relay.push(producedMs - times.acceptedWallMs)
    kafka.push(row.claimed.getTime() - producedMs)
    send.push(times.arrivedWallMs - row.claimed.getTime())
  }
  return { relayMs: percentiles(relay), kafkaMs: percentiles(kafka), sendMs: percentiles(send) }
}

/** The CreateTime of the first message keyed by each of `taskIds` on `topic`, read from the start. */
async function producedAt(brokers: string[], topic: string, taskIds: Set<string>): Promise<Map<string, number>> {
  const kafka = benchKafka(brokers, 'bench-stages')
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const left = new Map(ends.filter((p) => Number(p.high) > 0).map((p) => [p.partition, Number(p.high)]))
  const found = new Map<string, number>()
  if (left.size === 0) return found
  // Read as a group of its own (deleted with the run's others): kafkajs has no group-less consumer.
  const consumer = kafka.consumer({ groupId: `${topic}.stages.${Date.now()}`, maxWaitTimeInMs: 200 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: not read to its end within 60 s`)), 60_000)
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              const key = m.key?.toString()
              if (key !== undefined && taskIds.has(key) && !found.has(key)) found.set(key, Number(m.timestamp))
            }
            if (Number(batch.lastOffset()) + 1 >= (left.get(batch.partition) ?? 0)) left.delete(batch.partition)
            if (left.size === 0) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return found
}
