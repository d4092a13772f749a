import { type FlowState, newFlowState, type TaskId } from '@request-tasker/domain'
import { describe, expect, it } from 'vitest'
import { type Candidate, type ClaimPolicy, type KeyAtClaim, planClaim } from './claim-plan.js'

const NOW = new Date('2026-01-01T00:00:00.000Z')
const policy: ClaimPolicy = {
  leaseGraceMs: 1000,
  keyBusyWaitMs: 30_000,
  flow: { parallelism: 50, breaker: { failures: 10, coolDownMs: 30_000 }, waitMs: 30_000 },
}
const tasks = (flowKey: string, n: number, reservation: number | null = null): Candidate[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${flowKey}-${i}` as TaskId, ownerKeyId: 'owner', flowKey, reservation }))
const key = (name: string, state: FlowState = newFlowState(NOW)): KeyAtClaim => ({
  ownerKeyId: 'owner',
  key: name,
  state,
  inFlight: 0,
})
const oneASecond = newFlowState(NOW, { rate: 1, periodMs: 1000, burst: null, parallelism: null })

describe('planClaim', () => {
  it("leaves tasks held by their flow-control key out of their owner's send slots", () => {
    // 100 tasks of a key allowed one a second come first; the owner has 3 free slots in this tasker.
    const plan = planClaim(
      [...tasks('a-slow', 100), ...tasks('b-fast', 2)],
      [key('a-slow', oneASecond), key('b-fast')],
      { byOwner: new Map([['owner', 3]]), others: 0 },
      NOW,
      policy,
    )
    expect(plan.claim).toEqual(['a-slow-0', 'b-fast-0', 'b-fast-1'])
    expect(plan.hold).toHaveLength(99)
    expect(plan.hold.every((h) => h.reason === 'rate-limited' && h.reservation === 0)).toBe(true)
  })

  it('holds as key-busy what its flow-control keys would let go beyond the free slots, taking no token for it', () => {
    const burst = newFlowState(NOW, { rate: 10, periodMs: 1000, burst: 10, parallelism: null })
    const plan = planClaim(tasks('k', 5), [key('k', burst)], { byOwner: new Map(), others: 2 }, NOW, policy)
    expect(plan.claim).toHaveLength(2)
    expect(plan.hold.map((h) => [h.reason, h.runAt.getTime() - NOW.getTime()])).toEqual(
      Array(3).fill(['key-busy', 30_000]),
    )
    expect(plan.keys[0]!.state.tokens).toBe(8)
  })
})
