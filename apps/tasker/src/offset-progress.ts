/** A partition's offset to commit: the next one to read, as Kafka counts. */
export type CommitPoint = { topic: string; partition: number; offset: string }

type Entry = { offset: bigint; done: boolean }

type Partition = {
  topic: string
  partition: number
  /** Tracked messages not yet passed by the commit point, oldest first; offsets may have gaps. */
  entries: Entry[]
  byOffset: Map<bigint, Entry>
  /** Highest offset ever tracked: a redelivery at or below it is already followed. */
  highest: bigint
  /**
   * Lowest offset a redelivery can start at: the first offset tracked, raised by each commit. A message below it
   * is no redelivery but the partition starting over (a recreated topic, a broker that lost its tail).
   */
  low: bigint
  /** Next offset to commit once the oldest entries are done; null while nothing new is done. */
  ready: bigint | null
}

/** The messages of one `track` call: marks them done, or nothing once their partition was let go or rewound. */
export type Tracked = { done(offset: string): void }

/**
 * Follows every message a consumer took, per partition, until its work is done, and names the offsets that may
 * be committed: just past the longest run of done messages from the oldest one on. A message that finishes early
 * waits for the older ones, so a commit never passes a message whose work is still running.
 */
export class OffsetProgress {
  readonly #partitions = new Map<string, Partition>()

  /** Whether a message at `offset` is followed already (or was passed by a commit point): a redelivery. */
  follows(topic: string, partition: number, offset: string): boolean {
    const p = this.#partitions.get(key(topic, partition))
    const at = BigInt(offset)
    return p !== undefined && at <= p.highest && at >= p.low
  }

  /**
   * Whether a message at `offset` lies below where any redelivery could start: the partition's offsets went back,
   * so what is followed says nothing about these messages. Call `forget` and read them as new.
   */
  rewound(topic: string, partition: number, offset: string): boolean {
    const p = this.#partitions.get(key(topic, partition))
    return p !== undefined && BigInt(offset) < p.low
  }

  /** Drops a partition's state; work still running on its messages then finishes without effect on the new ones. */
  forget(topic: string, partition: number): void {
    this.#partitions.delete(key(topic, partition))
  }

  /** Starts following messages not followed yet, in ascending order of offset. */
  track(topic: string, partition: number, offsets: readonly string[]): Tracked {
    const p = this.#partition(topic, partition, offsets[0])
    for (const text of offsets) {
      const offset = BigInt(text)
      if (offset <= p.highest) throw new Error(`offset ${text} of ${topic}/${partition} is followed already`)
      const entry = { offset, done: false }
      p.entries.push(entry)
      p.byOffset.set(offset, entry)
      p.highest = offset
    }
    return { done: (offset) => this.#done(p, offset) }
  }

  /** Commit points that moved since they were last taken. */
  takeReady(): CommitPoint[] {
    const points: CommitPoint[] = []
    for (const p of this.#partitions.values()) {
      if (p.ready === null) continue
      points.push({ topic: p.topic, partition: p.partition, offset: p.ready.toString() })
      p.ready = null
    }
    return points
  }

  /** Puts back points whose commit failed, unless a later one is ready by then. */
  restore(points: readonly CommitPoint[]): void {
    for (const point of points) {
      const p = this.#partitions.get(key(point.topic, point.partition))
      if (p && p.ready === null) p.ready = BigInt(point.offset)
    }
  }

  /** Points the broker took: a redelivery now starts at one of them or later. */
  committed(points: readonly CommitPoint[]): void {
    for (const point of points) {
      const p = this.#partitions.get(key(point.topic, point.partition))
      const offset = BigInt(point.offset)
      if (p && offset > p.low) p.low = offset
    }
  }

  /** Forgets partitions not in `assigned` (topic → partitions): another member reads and commits them now. */
  retain(assigned: Record<string, readonly number[]>): void {
    for (const [k, p] of this.#partitions) {
      if (!assigned[p.topic]?.includes(p.partition)) this.#partitions.delete(k)
    }
  }

  /** Messages followed and not yet passed by a commit point. */
  get pending(): number {
    let n = 0
    for (const p of this.#partitions.values()) n += p.entries.length
    return n
  }

  #done(p: Partition, offset: string): void {
    if (this.#partitions.get(key(p.topic, p.partition)) !== p) return // let go, or rewound, meanwhile
    const entry = p.byOffset.get(BigInt(offset))
    if (!entry) return
    entry.done = true
    let passed = 0
    while (passed < p.entries.length && p.entries[passed]!.done) passed++
    if (passed === 0) return
    const passedEntries = p.entries.splice(0, passed)
    for (const e of passedEntries) p.byOffset.delete(e.offset)
    p.ready = passedEntries.at(-1)!.offset + 1n
  }

  #partition(topic: string, partition: number, first: string | undefined): Partition {
    const k = key(topic, partition)
    let p = this.#partitions.get(k)
    if (!p) {
      const low = first === undefined ? 0n : BigInt(first)
      p = { topic, partition, entries: [], byOffset: new Map(), highest: -1n, low, ready: null }
      this.#partitions.set(k, p)
    }
    return p
  }
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`
