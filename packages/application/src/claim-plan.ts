import {
  admit,
  type FlowDefaults,
  type FlowState,
  isPastDeadline,
  type TaskId,
  type WaitReason,
} from '@request-tasker/domain'
import type { KeyRoom } from './ports/task-repository.js'

/** A task a claim found claimable, in id order (oldest first). */
export type Candidate = {
  readonly id: TaskId
  readonly ownerKeyId: string
  readonly flowKey: string
  /** Past it the task is not sent (see deadline.ts); absent or null: no deadline. */
  readonly expiresAt?: Date | null
}

/** A flow-control key as the claim found it, locked: its state and its sends in flight on every tasker. */
export type KeyAtClaim = {
  readonly ownerKeyId: string
  readonly key: string
  readonly state: FlowState
  readonly inFlight: number
}

export type ClaimPlan = {
  readonly claim: readonly TaskId[]
  /** Tasks past their deadline: they end `error` (`expired`), never sent, and take no room or token. */
  readonly expire: readonly TaskId[]
  /** Tasks that wait instead, each with why and until when (or until woken). */
  readonly hold: ReadonlyArray<{
    readonly id: TaskId
    readonly ownerKeyId: string
    readonly reason: WaitReason
    readonly runAt: Date
  }>
  /** Every key's state after the claim, to store. */
  readonly keys: readonly KeyAtClaim[]
}

export type ClaimPolicy = { readonly leaseGraceMs: number; readonly keyBusyWaitMs: number; readonly flow: FlowDefaults }

/**
 * Which of the candidates a claim takes, decided the same way by every store: first each API key's room in this
 * tasker's send slots (the rest wait `key-busy`), then each flow-control key's admission (its rate, parallelism,
 * pause and circuit; see admit). Oldest first within each key. A task past its deadline is taken by none of them:
 * it ends, expired.
 */
export function planClaim(
  candidates: readonly Candidate[],
  keys: readonly KeyAtClaim[],
  room: KeyRoom,
  now: Date,
  policy: ClaimPolicy,
): ClaimPlan {
  const hold: Array<{ id: TaskId; ownerKeyId: string; reason: WaitReason; runAt: Date }> = []
  const taken = new Map<string, number>()
  const byKey = new Map<string, Candidate[]>()
  const expire: TaskId[] = []
  for (const c of candidates) {
    if (isPastDeadline(c.expiresAt ?? null, now)) {
      expire.push(c.id)
      continue
    }
    const place = (taken.get(c.ownerKeyId) ?? 0) + 1
    taken.set(c.ownerKeyId, place)
    if (place > (room.byOwner.get(c.ownerKeyId) ?? room.others)) {
      hold.push({ id: c.id, ownerKeyId: c.ownerKeyId, reason: 'key-busy', runAt: after(now, policy.keyBusyWaitMs) })
      continue
    }
    const k = flowKeyId(c.ownerKeyId, c.flowKey)
    byKey.set(k, [...(byKey.get(k) ?? []), c])
  }

  const claim: TaskId[] = []
  const after_: KeyAtClaim[] = []
  for (const key of keys) {
    const group = byKey.get(flowKeyId(key.ownerKeyId, key.key)) ?? []
    const { admitted, held, state } = admit(key.state, group.length, key.inFlight, now, policy.flow)
    group.forEach((c, i) => {
      if (i < admitted) claim.push(c.id)
      else hold.push({ id: c.id, ownerKeyId: c.ownerKeyId, ...held[i - admitted]! })
    })
    after_.push({ ...key, state })
  }
  return { claim, expire, hold, keys: after_ }
}

/** One string per flow-control key: its owner and its name. */
export const flowKeyId = (ownerKeyId: string, key: string) => `${ownerKeyId}\u0000${key}`

const after = (now: Date, ms: number) => new Date(now.getTime() + ms)
