import type { HeaderList } from './outbound-request.js'
import type { TaskId } from './task.js'

export const SEND_ERROR_CODES = [
  'timeout',
  'dns',
  'connect',
  'tls',
  'reset',
  'too_large',
  'protocol',
  'unknown',
  // The target's address is one the deployment refuses to reach (loopback, private, metadata, …).
  'blocked',
  // The task is to be signed and its API key has no signing secret left: nothing was sent.
  'unsigned',
  // The tasker sending it stopped mid-attempt (a crash, say) as often as the task's attempts allow: a request that
  // kills its tasker every time ends here instead of taking every other task in flight down with it again.
  'interrupted',
] as const
export type SendErrorCode = (typeof SEND_ERROR_CODES)[number]

/** What an `interrupted` attempt says: its tasker stopped mid-attempt, and the task has no attempts left. */
export const INTERRUPTED_MESSAGE =
  'the tasker sending this attempt stopped before it ended, as often as the task allows attempts'

/** What one send produced: a response (any HTTP status) or no usable response at all. */
export type SendOutcome =
  | {
      readonly kind: 'response'
      readonly httpStatusCode: number
      readonly headers: HeaderList
      /** Bytes of body received, even past the stored cap. */
      readonly length: number
      /** The stored prefix of the body, at most the configured cap. */
      readonly body: Uint8Array
      readonly bodyTruncated: boolean
      readonly durationMs: number
    }
  | {
      readonly kind: 'failure'
      readonly error: { readonly code: SendErrorCode; readonly message: string }
      readonly durationMs: number
    }

/** One recorded attempt: the n-th claim of a task and what its send produced. */
export type Attempt = {
  readonly taskId: TaskId
  readonly n: number
  readonly startedAt: Date
  readonly outcome: SendOutcome
}
