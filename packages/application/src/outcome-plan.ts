import { afterOutcome, type CircuitState, type FlowDefaults, type FlowSignal } from '@request-tasker/domain'
import { flowKeyId, type KeyAtClaim } from './claim-plan.js'

/** What one ended send told about its flow-control key. */
export type FlowObservation = { readonly ownerKeyId: string; readonly flowKey: string; readonly signal: FlowSignal }

/** A key whose circuit opened or closed, for the log. */
export type CircuitChange = { readonly ownerKeyId: string; readonly key: string; readonly circuit: CircuitState }

export type OutcomePlan = {
  readonly keys: ReadonlyArray<Omit<KeyAtClaim, 'inFlight'>>
  readonly changes: readonly CircuitChange[]
  /** Per key, how many sends ended: each wakes one task waiting for a slot of that key. */
  readonly ended: ReadonlyArray<{ readonly ownerKeyId: string; readonly key: string; readonly sends: number }>
}

/** Each key's state after the outcomes, in the order they came (see afterOutcome), decided alike by every store. */
export function planOutcomes(
  observations: readonly FlowObservation[],
  keys: ReadonlyArray<Omit<KeyAtClaim, 'inFlight'>>,
  now: Date,
  flow: FlowDefaults,
): OutcomePlan {
  const byId = new Map(keys.map((k) => [flowKeyId(k.ownerKeyId, k.key), { ...k, sends: 0 }]))
  const changes: CircuitChange[] = []
  for (const o of observations) {
    const key = byId.get(flowKeyId(o.ownerKeyId, o.flowKey))
    if (!key) continue
    const { state, circuitChanged } = afterOutcome(key.state, o.signal, now, flow)
    key.state = state
    key.sends++
    if (circuitChanged) changes.push({ ownerKeyId: key.ownerKeyId, key: key.key, circuit: circuitChanged })
  }
  const all = [...byId.values()]
  return {
    keys: all.map(({ ownerKeyId, key, state }) => ({ ownerKeyId, key, state })),
    changes,
    ended: all.map(({ ownerKeyId, key, sends }) => ({ ownerKeyId, key, sends })),
  }
}
