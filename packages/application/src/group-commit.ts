export type GroupCommitOptions<In> = {
  /** Most inputs one write takes. */
  maxBatch: number
  /** Writes running at once; inputs that come meanwhile queue for the next free one. */
  maxInFlight?: number
  /** With `weigh`: most weight one write takes; an input heavier than this goes alone. */
  maxWeight?: number
  weigh?: (input: In) => number
  /** An input still queued after this long is dropped, unwritten, and its caller gets `queueTimeout()`. */
  maxQueueMs?: number
  queueTimeout?: () => Error
  /** Whether an error means the store could not be reached, which no input of the batch would escape alone. */
  isUnavailable: (err: unknown) => boolean
}

/** Writes one input, alone or with others; settles with that input's output. */
export type Commit<In, Out> = ((input: In) => Promise<Out>) & {
  /** Inputs waiting for a free write: pressure that a pool's own queue no longer shows. */
  queued(): number
}

type Entry<In, Out> = { input: In; queuedAt: number; resolve: (out: Out) => void; reject: (err: unknown) => void }

/**
 * Group commit: the first input is written at once; inputs that come while `maxInFlight` writes run queue, and the
 * next free write takes as many as fit (`maxBatch`, `maxWeight`) in one statement and one transaction. Under light
 * load nothing waits; under load one round trip serves many, which is where the database spent most of its time
 * per input. `write` returns one output per input, in order.
 *
 * The one failure policy: a write the store could not be reached for fails every caller in it with that error (each
 * decides: answer 503, or try again); a write that failed otherwise goes again input by input, so one bad input fails
 * only its own caller.
 */
export function groupCommit<In, Out>(
  write: (inputs: In[]) => Promise<Out[]>,
  options: GroupCommitOptions<In>,
): Commit<In, Out> {
  const { maxBatch, maxInFlight = 1, maxWeight = Number.POSITIVE_INFINITY, weigh = () => 0 } = options
  const queue: Array<Entry<In, Out>> = []
  let inFlight = 0
  let expiry: NodeJS.Timeout | undefined

  function next(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = take()
      inFlight++
      void run(batch).finally(() => {
        inFlight--
        next()
      })
    }
  }

  // The oldest inputs, as many as fit; the first always goes, however heavy.
  function take(): Array<Entry<In, Out>> {
    let count = 1
    let weight = weigh(queue[0]!.input)
    while (count < queue.length && count < maxBatch) {
      const more = weigh(queue[count]!.input)
      if (weight + more > maxWeight) break
      weight += more
      count++
    }
    return queue.splice(0, count)
  }

  async function run(batch: Array<Entry<In, Out>>): Promise<void> {
    let outputs: Out[]
    try {
      outputs = await write(batch.map((e) => e.input))
    } catch (err) {
      if (batch.length === 1 || options.isUnavailable(err)) {
        for (const e of batch) e.reject(err)
        return
      }
      // Through a resolved promise: an input that throws before it even reaches the store fails alone too.
      await Promise.all(
        batch.map((e) =>
          Promise.resolve([e.input])
            .then(write)
            .then((out) => e.resolve(out[0]!), e.reject),
        ),
      )
      return
    }
    for (const [i, e] of batch.entries()) e.resolve(outputs[i]!)
  }

  // One timer at a time, for the oldest queued input: the queue is in arrival order.
  function expireLater(): void {
    const { maxQueueMs, queueTimeout } = options
    if (maxQueueMs === undefined || queueTimeout === undefined || expiry !== undefined || queue.length === 0) return
    expiry = setTimeout(
      () => {
        expiry = undefined
        const limit = Date.now() - maxQueueMs
        let expired = 0
        while (expired < queue.length && queue[expired]!.queuedAt <= limit) expired++
        for (const e of queue.splice(0, expired)) e.reject(queueTimeout())
        expireLater()
      },
      Math.max(0, queue[0]!.queuedAt + maxQueueMs - Date.now()),
    )
    expiry.unref?.()
  }

  const commit = (input: In) =>
    new Promise<Out>((resolve, reject) => {
      queue.push({ input, queuedAt: Date.now(), resolve, reject })
      next()
      expireLater()
    })
  return Object.assign(commit, { queued: () => queue.length })
}
