/**
 * What a tasker may take on: send slots, a share of them per API key, and a bounded buffer of outcomes sent but not
 * yet stored. A claim waits while that buffer is full (in count or in bytes), so sends never outrun the writes of
 * their outcomes: memory stays bounded, and no outcome waits long enough for its lease to matter.
 */
export class SendCapacity {
  #sending = 0
  readonly #sendingByOwner = new Map<string, number>()
  #unstored = 0
  #unstoredBytes = 0
  #waiters: Array<() => void> = []

  constructor(
    readonly limits: {
      readonly slots: number
      readonly slotsPerKey: number
      readonly unstored: number
      readonly unstoredBytes: number
    },
  ) {}

  /** How many tasks may be claimed now: free slots, or none while the outcome buffer is full. */
  room(): number {
    const { slots, unstored, unstoredBytes } = this.limits
    if (this.#unstored >= unstored || this.#unstoredBytes >= unstoredBytes) return 0
    return Math.max(0, slots - this.#sending)
  }

  /** Slots each key may still take, for the claim to split among the keys of the tasks it finds. */
  roomByOwner(): Map<string, number> {
    const room = new Map<string, number>()
    for (const [owner, n] of this.#sendingByOwner) room.set(owner, Math.max(0, this.limits.slotsPerKey - n))
    return room
  }

  /** Taken before a claim's first await, so that a claim running meanwhile sees the slots gone. */
  reserve(n: number): void {
    this.#sending += n
  }

  /** Gives back reserved slots the claim did not fill. */
  unreserve(n: number): void {
    this.#sending -= n
    this.#notify()
  }

  /** A reserved slot now sends a task of `owner`. */
  assign(owner: string): void {
    this.#sendingByOwner.set(owner, (this.#sendingByOwner.get(owner) ?? 0) + 1)
  }

  /** The send ended: its slot is free, and its outcome, `bytes` large, waits in the buffer until stored. */
  sent(owner: string, bytes: number): void {
    this.#sending--
    const left = (this.#sendingByOwner.get(owner) ?? 1) - 1
    if (left > 0) this.#sendingByOwner.set(owner, left)
    else this.#sendingByOwner.delete(owner)
    this.#unstored++
    this.#unstoredBytes += bytes
    this.#notify()
  }

  /** The outcome left the buffer: stored, or given up on. */
  stored(bytes: number): void {
    this.#unstored--
    this.#unstoredBytes -= bytes
    this.#notify()
  }

  /** Sends of `owner` running now. */
  sendingFor(owner: string): number {
    return this.#sendingByOwner.get(owner) ?? 0
  }

  /** Tasks claimed whose outcome is not stored yet: sending, or in the buffer. */
  get held(): number {
    return this.#sending + this.#unstored
  }

  get unstored(): { count: number; bytes: number } {
    return { count: this.#unstored, bytes: this.#unstoredBytes }
  }

  /** Resolves when room may have grown or an outcome was stored, or after `ms` at the latest. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  #notify(): void {
    for (const wake of this.#waiters.splice(0)) wake()
  }
}
