import type { Logger } from '@request-tasker/infrastructure'
import { createPause } from './pause.js'

/**
 * Runs `pass` until stopped. A pass that reports `more` runs again at once; otherwise the loop rests `intervalMs`
 * or until `wake()`. A failed pass counts as no progress, so a broken dependency makes it pause, not spin.
 */
export function startPeriodicLoop(
  name: string,
  pass: () => Promise<{ more: boolean }>,
  intervalMs: number,
  log: Logger,
) {
  const pause = createPause()
  let stopped = false
  const done = (async () => {
    while (!stopped) {
      let more = false
      try {
        more = (await pass()).more
      } catch (err) {
        log.error({ err, loop: name }, 'loop pass failed')
      }
      if (!more && !stopped) await pause.wait(intervalMs)
    }
  })()
  return {
    wake: () => pause.wake(),
    /** Resolves once the pass in flight has finished. */
    async stop(): Promise<void> {
      stopped = true
      pause.wake()
      await done
    },
  }
}
