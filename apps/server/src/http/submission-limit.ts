/** Submissions one API key may make per window. */
export type SubmissionLimit = { max: number; windowMs: number }

/** Thrown past the limit; the one problem mapper answers 429 with Retry-After. */
export class TooManySubmissions extends Error {
  constructor(
    readonly limit: SubmissionLimit,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `at most ${limit.max} submissions per ${Math.round(limit.windowMs / 1000)} s for this API key; ` +
        `retry after ${retryAfterSeconds} s`,
    )
    this.name = 'TooManySubmissions'
  }
}

/**
 * Counts submissions per API key in fixed windows, in this process's memory, so one key cannot fill the database
 * and the tasker's queue for every other. A batch counts each of its tasks, so it is no way round the limit; that
 * weight is why this is not @fastify/rate-limit, which counts requests. One entry per configured key at most: only
 * requests whose key passed are counted.
 */
export class SubmissionCounter {
  readonly #windows = new Map<string, { startedAt: number; count: number }>()

  constructor(
    readonly limit: SubmissionLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts `n` submissions of the key, or throws TooManySubmissions and counts none when they would pass the limit. */
  take(apiKeyId: string, n: number): void {
    const now = this.now()
    let window = this.#windows.get(apiKeyId)
    if (window === undefined || now - window.startedAt >= this.limit.windowMs) {
      window = { startedAt: now, count: 0 }
      this.#windows.set(apiKeyId, window)
    }
    if (window.count + n > this.limit.max) {
      const waitMs = window.startedAt + this.limit.windowMs - now
      throw new TooManySubmissions(this.limit, Math.max(1, Math.ceil(waitMs / 1000)))
    }
    window.count += n
  }
}
