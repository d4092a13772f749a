import {
  checkFlowKey,
  createFlowLimits,
  DomainError,
  type FlowLimitsInput,
  invalidRequest,
} from '@request-tasker/domain'
import type { FlowControlPage, FlowControls, FlowControlView } from './ports/flow-controls.js'

export const MAX_FLOW_PAGE = 1000
export const DEFAULT_FLOW_PAGE = 100

/** The flow-control routes' use cases: each checks the key (and limits, page) first, then asks the store. */
export function makeFlowControlUseCases(deps: { flowControls: FlowControls }) {
  const { flowControls } = deps
  const keyOf = (key: string) => {
    const issues = checkFlowKey(key)
    if (issues.length > 0) throw invalidRequest(issues)
    return key
  }
  const found = (key: string, view: FlowControlView | null): FlowControlView => {
    if (view === null)
      throw new DomainError('flow-control-not-found', `flow-control key ${JSON.stringify(key)} is not set`)
    return view
  }
  return {
    putFlowControl: (ownerKeyId: string, key: string, input: FlowLimitsInput) =>
      flowControls.put(ownerKeyId, keyOf(key), createFlowLimits(input)),
    getFlowControl: async (ownerKeyId: string, key: string) =>
      found(key, await flowControls.get(ownerKeyId, keyOf(key))),
    listFlowControls: (
      ownerKeyId: string,
      page: { after: string | null; limit?: number },
    ): Promise<FlowControlPage> => {
      const limit = page.limit ?? DEFAULT_FLOW_PAGE
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FLOW_PAGE) {
        throw invalidRequest([{ path: 'limit', message: `must be an integer from 1 to ${MAX_FLOW_PAGE}` }])
      }
      return flowControls.list(ownerKeyId, page.after, limit)
    },
    deleteFlowControl: async (ownerKeyId: string, key: string) => {
      if (!(await flowControls.remove(ownerKeyId, keyOf(key)))) found(key, null)
    },
    pauseFlowControl: (ownerKeyId: string, key: string) => flowControls.setPaused(ownerKeyId, keyOf(key), true),
    resumeFlowControl: (ownerKeyId: string, key: string) => flowControls.setPaused(ownerKeyId, keyOf(key), false),
  }
}

export type FlowControlUseCases = ReturnType<typeof makeFlowControlUseCases>
