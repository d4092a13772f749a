/**
 * Shares one run of `probe` among every caller while it runs (single flight), and answers its result for `ttlMs`
 * after it ends. Readiness probes need no key, so anyone can send a flood of them: with this, a flood costs one
 * check per `ttlMs`, not one per request.
 */
export function cachedProbe<T>(
  probe: () => Promise<T>,
  ttlMs: number,
  now = () => performance.now(),
): () => Promise<T> {
  let running: Promise<T> | null = null
  let last: { value: T; at: number } | null = null
  return () => {
    if (last !== null && now() - last.at < ttlMs) return Promise.resolve(last.value)
    if (running === null) {
      running = probe()
        .then((value) => {
          last = { value, at: now() }
          return value
        })
        .finally(() => {
          running = null
        })
    }
    return running
  }
}
