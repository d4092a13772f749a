// Glossary
// - Task: one HTTP request a client asked us to send later, owned by the API key that submitted it.
// - OutboundRequest: the validated method, URL, headers, body and timeout of that request.
// - Attempt: one send of a task and its SendOutcome (a response, or a failure with a code).
// - Status: new → in_process → done | error; a stale in_process goes back to new; a retryable outcome with
//   attempts left goes to scheduled, and back to new when due; an owner may redrive error to new, and cancel a
//   new or scheduled task (see task.ts).
// - Callback: a task of kind `callback` that POSTs the end of its parent task to the parent's callback URL.
// - Deadline: `expiresAt`; past it a task is not sent and ends `error` with the code `expired`.
// - RetryPolicy: a task's attempt budget, backoff and which outcomes are retryable (see retry-policy.ts).
export * from './attempt.js'
export * from './callback.js'
export * from './deadline.js'
export * from './errors.js'
export * from './flow-admission.js'
export * from './flow-control.js'
export * from './flow-limits.js'
export * from './flow-outcome.js'
export * from './outbound-request.js'
export * from './retry-policy.js'
export * from './schedule.js'
export * from './task.js'
export * from './trace-context.js'
