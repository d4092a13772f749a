/** Send slots: a count of tasks in flight, and a way to wait until it changes. */
export class Slots {
  used = 0
  #waiters: Array<() => void> = []
  constructor(readonly max: number) {}

  get free(): number {
    return Math.max(0, this.max - this.used)
  }
  take(n: number): void {
    this.used += n
  }
  release(n: number): void {
    this.used -= n
    this.notify()
  }
  notify(): void {
    for (const wake of this.#waiters.splice(0)) wake()
  }
  /** Resolves when a slot is released, or after `ms` at the latest. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
