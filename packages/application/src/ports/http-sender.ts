import type { OutboundRequest, SendOutcome } from '@request-tasker/domain'

export interface HttpSender {
  /** A third party's 503, timeout or refusal is an outcome to record, never a thrown error. */
  send(request: OutboundRequest): Promise<SendOutcome>
}
