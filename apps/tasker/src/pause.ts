/** A sleep that `wake()` or `stop()` can cut short, so loops react to a notification or a signal at once. */
export function createPause() {
  let release: (() => void) | null = null
  let timer: NodeJS.Timeout | undefined
  return {
    wait(ms: number): Promise<void> {
      return new Promise((resolve) => {
        release = resolve
        timer = setTimeout(resolve, ms)
      })
    },
    wake(): void {
      clearTimeout(timer)
      release?.()
      release = null
    },
  }
}
