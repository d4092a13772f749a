import type { Logger } from '@request-tasker/infrastructure'
import { createPause } from './pause.js'

/** What a pass did: `more` to run again at once; `restMs` to rest less than the interval this time. */
export type PassResult = { more: boolean; restMs?: number }

/**
 * Runs `pass` until stopped. A pass that reports `more` runs again at once; otherwise the loop rests `intervalMs`
 * (or the pass's shorter `restMs`) or until `wake()`. A failed pass counts as no progress, so a broken dependency
 * makes it pause, not spin.
 */
export function startPeriodicLoop(name: string, pass: () => Promise<PassResult>, intervalMs: number, log: Logger) {
  const pause = createPause()
  let stopped = false
  const done = (async () => {
    while (!stopped) {
      let result: PassResult = { more: false }
      try {
        result = await pass()
      } catch (err) {
        log.error({ err, loop: name }, 'loop pass failed')
      }
      if (!result.more && !stopped) await pause.wait(Math.min(intervalMs, result.restMs ?? intervalMs))
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
