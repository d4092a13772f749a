import type { CircuitState, FlowLimits, FlowWaitReason } from '@request-tasker/domain'

/** A flow-control key as its owner reads it: what was set, and how the key stands right now. */
export type FlowControlView = {
  readonly key: string
  /** What the owner set; null parts take the deployment's defaults. */
  readonly limits: FlowLimits
  readonly paused: boolean
  readonly circuit: { readonly state: CircuitState; readonly failures: number; readonly until: Date | null }
  /** Requests of the key in flight now, on every tasker. */
  readonly inFlight: number
  /** Its tasks waiting for the key, by why. */
  readonly waiting: Readonly<Record<FlowWaitReason, number>>
  /** The last minute (since `since`): sends, 429 and 503 answers, failures. */
  readonly lastMinute: {
    readonly since: Date
    readonly sends: number
    readonly throttled: number
    readonly failures: number
  }
  /** Requests per second the key is held to after its destination pushed back; null when it is not. */
  readonly adaptiveRate: number | null
  /** Until then the key sends nothing: its destination asked to wait (Retry-After). */
  readonly blockedUntil: Date | null
  /** When the owner last set its limits; null for a key only ever used with the defaults. */
  readonly configuredAt: Date | null
}

/** Every key of an owner, one page at a time in key order. */
export type FlowControlPage = { readonly items: readonly FlowControlView[]; readonly next: string | null }

/** The owner's side of flow control: set, read and drop each key's limits, and pause a key. */
export interface FlowControls {
  /** Sets the key's limits (creating the key), as the latest value. */
  put(ownerKeyId: string, key: string, limits: FlowLimits): Promise<FlowControlView>
  get(ownerKeyId: string, key: string): Promise<FlowControlView | null>
  /** Keys after `after` (exclusive), at most `limit`. */
  list(ownerKeyId: string, after: string | null, limit: number): Promise<FlowControlPage>
  /** Forgets the key: its tasks go back to the defaults, and any it held paused are queued again. */
  remove(ownerKeyId: string, key: string): Promise<boolean>
  /**
   * Pauses or resumes the key (creating it). A paused key sends nothing; its tasks wait without spending attempts.
   * Resuming queues its paused tasks again at once.
   */
  setPaused(ownerKeyId: string, key: string, paused: boolean): Promise<FlowControlView>
}
