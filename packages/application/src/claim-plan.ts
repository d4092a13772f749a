import {
  admit,
  type FlowDefaults,
  type FlowState,
  isPastDeadline,
  type TaskId,
  type WaitReason,
} from '@request-tasker/domain'
import type { KeyRoom } from './ports/task-repository.js'

/** A task a claim found claimable, in id order (oldest first), with the place it holds in its key's queue, if any. */
export type Candidate = {
  readonly id: TaskId
  readonly ownerKeyId: string
  readonly flowKey: string
  readonly reservation: number | null
  /** Past it the task is not sent (see deadline.ts); absent or null: no deadline. */
  readonly expiresAt?: Date | null
}

/** A task the claim holds back: why, until when (or until woken), and the place in its key's queue it was given. */
export type Hold = {
  readonly id: TaskId
  readonly ownerKeyId: string
  readonly reason: WaitReason
  readonly runAt: Date
  readonly reservation: number | null
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
  /** How long the tasker waits before sending a claimed task, for its key's next send token; absent: none. */
  readonly delays: ReadonlyMap<TaskId, number>
  /** Tasks past their deadline: they end `error` (`expired`), never sent, and take no room or token. */
  readonly expire: readonly TaskId[]
  readonly hold: readonly Hold[]
  /** Every key's state after the claim, to store. */
  readonly keys: readonly KeyAtClaim[]
}

export type ClaimPolicy = { readonly leaseGraceMs: number; readonly keyBusyWaitMs: number; readonly flow: FlowDefaults }

/**
 * Which of the candidates a claim takes, decided the same way by every store: each flow-control key admits what
 * its rate, parallelism, pause and circuit allow (see admit), and of those, each API key takes no more than its
 * room in this tasker's send slots; the rest wait `key-busy`. A task held by its flow-control key takes no slot,
 * so 5,000 tasks waiting for a slow key leave their owner's other tasks all the room. A task past its deadline is
 * taken by none of them: it ends, expired.
 */
export function planClaim(
  candidates: readonly Candidate[],
  keys: readonly KeyAtClaim[],
  room: KeyRoom,
  now: Date,
  policy: ClaimPolicy,
): ClaimPlan {
  const byKey = new Map<string, Candidate[]>()
  const expire: TaskId[] = []
  for (const c of candidates) {
    if (isPastDeadline(c.expiresAt ?? null, now)) {
      expire.push(c.id)
      continue
    }
    const k = flowKeyId(c.ownerKeyId, c.flowKey)
    byKey.set(k, [...(byKey.get(k) ?? []), c])
  }
  const slots = new Map<string, number>()
  const claim: TaskId[] = []
  const delays = new Map<TaskId, number>()
  const hold: Hold[] = []
  const after_: KeyAtClaim[] = []
  for (const key of keys) {
    const group = byKey.get(flowKeyId(key.ownerKeyId, key.key)) ?? []
    const free = slots.get(key.ownerKeyId) ?? room.byOwner.get(key.ownerKeyId) ?? room.others
    const admission = admit(
      key.state,
      group.map((c) => c.reservation),
      { inFlight: key.inFlight, slots: free },
      now,
      policy.flow,
    )
    slots.set(key.ownerKeyId, free - admission.admitted)
    admission.decisions.forEach((d, i) => {
      const { id, ownerKeyId } = group[i]!
      if (d.go) {
        claim.push(id)
        if (d.delayMs > 0) delays.set(id, d.delayMs)
      } else if (d.reason === 'key-busy') {
        hold.push({ id, ownerKeyId, reason: 'key-busy', runAt: after(now, policy.keyBusyWaitMs), reservation: null })
      } else hold.push({ id, ownerKeyId, reason: d.reason, runAt: d.runAt, reservation: d.reservation })
    })
    after_.push({ ...key, state: admission.state })
  }
  return { claim, delays, expire, hold, keys: after_ }
}

/** One string per flow-control key: its owner and its name. */
export const flowKeyId = (ownerKeyId: string, key: string) => `${ownerKeyId}\u0000${key}`

const after = (now: Date, ms: number) => new Date(now.getTime() + ms)
