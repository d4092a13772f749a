import type { OutboundRequest, SendOutcome } from '@request-tasker/domain'

/** What a send knows of its task beyond the request: the trace it belongs to. */
export type SendContext = { readonly traceparent: string | null }

export interface HttpSender {
  /** A third party's 503, timeout or refusal is an outcome to record, never a thrown error. */
  send(request: OutboundRequest, context?: SendContext): Promise<SendOutcome>
}
