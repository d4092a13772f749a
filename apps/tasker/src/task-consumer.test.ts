import type { TaskId } from '@request-tasker/domain'
import { createLogger } from '@request-tasker/infrastructure'
import type { Consumer, ConsumerRunConfig, EachBatchPayload } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { runTaskConsumer } from './task-consumer.js'

const TOPIC = 'task.requested.v1'

/**
 * Just enough of a kafkajs consumer to hand batches to the loop by hand: a broker cannot be made to lose the tail
 * of a partition on demand, and without a rebalance nothing but the offsets tells the loop that it happened.
 */
function fakeConsumer() {
  let eachBatch: NonNullable<ConsumerRunConfig['eachBatch']> | undefined
  const commits: Array<Array<{ partition: number; offset: string }>> = []
  const consumer = {
    events: { CRASH: 'crash', GROUP_JOIN: 'group-join' },
    on: () => () => {},
    connect: async () => {},
    subscribe: async () => {},
    run: async (config: ConsumerRunConfig) => {
      eachBatch = config.eachBatch
    },
    commitOffsets: async (points: Array<{ partition: number; offset: string }>) => {
      commits.push(points.map(({ partition, offset }) => ({ partition, offset })))
    },
    pause: () => {},
    disconnect: async () => {},
  }
  /** One batch of partition 0 with these offsets, each message naming the task `task-<offset>`. */
  async function deliver(offsets: number[], tag: string) {
    const payload = {
      batch: {
        topic: TOPIC,
        partition: 0,
        messages: offsets.map((offset) => ({
          offset: String(offset),
          key: null,
          value: Buffer.from(JSON.stringify({ taskId: taskIdOf(tag, offset) })),
        })),
      },
      resolveOffset: () => {},
      heartbeat: async () => {},
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload
    await eachBatch!(payload)
  }
  return { consumer: consumer as unknown as Consumer, commits, deliver }
}

const taskIdOf = (tag: string, offset: number) =>
  `00000000-0000-7000-8${tag}-${String(offset).padStart(12, '0')}` as TaskId

describe('runTaskConsumer on a partition whose offsets go back', () => {
  it('reads messages below its last commit as new ones, not as redeliveries to skip', async () => {
    const fake = fakeConsumer()
    const executed: TaskId[] = []
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const running = await runTaskConsumer({
      consumer: fake.consumer,
      topics: { tasks: TOPIC, deadLetters: 'task.dead-lettered.v1' },
      producer: {} as never,
      execute: async (ids) => {
        executed.push(...ids)
        return ids.map((id) => (id.includes('-8222-') ? held : Promise.resolve()))
      },
      room: { room: () => 100, changed: () => new Promise((resolve) => setTimeout(resolve, 10)) },
      onGiveUp: () => {},
      log: createLogger('test', 'silent'),
      partitionsConsumedConcurrently: 1,
      chunkSize: 10,
    })

    // 1. Offsets 100–104 are sent and committed.
    await fake.deliver([100, 101, 102, 103, 104], '000')
    await expect.poll(() => fake.commits.at(-1)).toEqual([{ partition: 0, offset: '105' }])
    // 2. 105–106 are taken but not yet done; after a rebalance that kept the partition here, kafkajs reads them
    //    again from the committed offset: a redelivery, skipped.
    await fake.deliver([105, 106], '222')
    await fake.deliver([105, 106], '222')
    release()
    await expect.poll(() => fake.commits.at(-1)).toEqual([{ partition: 0, offset: '107' }])
    // 3. The broker lost its tail and took new messages at 101–102: they are tasks never seen, and are handled.
    await fake.deliver([101, 102], '111')
    await running.stop()

    expect(executed).toEqual([
      ...[100, 101, 102, 103, 104].map((o) => taskIdOf('000', o)),
      taskIdOf('222', 105),
      taskIdOf('222', 106),
      taskIdOf('111', 101),
      taskIdOf('111', 102),
    ])
    expect(fake.commits.at(-1)).toEqual([{ partition: 0, offset: '103' }])
  })
})
