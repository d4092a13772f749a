import type { Logger } from '@request-tasker/infrastructure'
import type { RunningConsumer } from './task-consumer.js'

/** Waits after a failed start or a consumer kafkajs gave up on, doubling up to the last. */
const RESTART_DELAYS_MS = [1_000, 2_000, 5_000, 10_000]

/**
 * Keeps one consumer running. kafkajs restarts itself after most failures, but gives up on some (a group
 * coordinator it cannot find while a broker restarts, say) and then consumes nothing more: a new consumer is
 * started in its place, again until one runs, so a broker outage never leaves a live tasker idle for good.
 * `start` gets the callback to call when kafkajs gives up.
 */
export async function keepConsuming(
  start: (onGiveUp: (err: Error) => void) => Promise<RunningConsumer>,
  log: Logger,
): Promise<{ stop(): Promise<void> }> {
  let current: RunningConsumer | undefined
  let stopping = false
  let restarting: Promise<void> | undefined

  async function startOne(): Promise<void> {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        current = await start(onGiveUp)
        return
      } catch (err) {
        const delayMs = RESTART_DELAYS_MS[Math.min(attempt, RESTART_DELAYS_MS.length - 1)]!
        log.error({ err, delayMs }, 'task consumer did not start, trying again')
        await sleep(delayMs)
      }
    }
  }
  function onGiveUp(err: Error): void {
    if (stopping || restarting) return
    log.error({ err }, 'task consumer gave up, starting a new one')
    current?.abandon() // its tasks in flight still end and are stored; their messages come again to the new one
    current = undefined
    restarting = sleep(RESTART_DELAYS_MS[0]!)
      .then(startOne)
      .finally(() => {
        restarting = undefined
      })
  }

  await startOne()
  return {
    async stop() {
      stopping = true
      await restarting
      await current?.stop()
    },
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
