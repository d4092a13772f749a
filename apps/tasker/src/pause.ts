/**
 * A sleep that `wake()` can cut short, so loops react to a notification or a signal at once. A wake that arrives
 * while nobody waits (the loop is mid-pass) is kept, so the next `wait` returns at once: the rows that woke it may
 * have been committed after the pass read its batch.
 */
export function createPause() {
  let release: (() => void) | null = null
  let timer: NodeJS.Timeout | undefined
  let woken = false
  return {
    wait(ms: number): Promise<void> {
      if (woken) {
        woken = false
        return Promise.resolve()
      }
      return new Promise((resolve) => {
        release = resolve
        timer = setTimeout(() => {
          release = null
          resolve()
        }, ms)
      })
    },
    wake(): void {
      if (release === null) {
        woken = true
        return
      }
      clearTimeout(timer)
      release()
      release = null
    },
  }
}
