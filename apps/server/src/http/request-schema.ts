import type { components } from '@request-tasker/contract'
import {
  type CallbackInput,
  type DeadlineInput,
  type FlowControlInput,
  invalidRequest,
  METHODS,
  type OutboundRequestInput,
  type RetryPolicyInput,
  type ScheduleInput,
  SEND_ERROR_CODES,
} from '@request-tasker/domain'
import { z } from 'zod'

type SubmitTaskRequest = components['schemas']['SubmitTaskRequest']

const headerMap = z
  .record(z.string(), z.union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings' }))
  .nullish()
const callbackTarget = z
  .object({ url: z.string(), headers: headerMap, secretHeaders: z.array(z.string()).nullish() })
  .nullish()

// JSON types and enums only. What makes a URL, header or body acceptable — and the timeout's range — is the
// domain's rule (createOutboundRequest), checked once there for every caller.
// Unknown fields are dropped, not refused: the original service ignored them and its clients may still send them.
// `null` means absent: clients that marshal nil maps and pointers send `"headers": null`.
const submitTaskBody = z.object({
  method: z.enum(METHODS, {
    error: (issue) =>
      typeof issue.input === 'string' && (METHODS as readonly string[]).includes(issue.input.toUpperCase())
        ? `methods are case-sensitive; use ${issue.input.toUpperCase()}`
        : `must be one of ${METHODS.join(', ')}`,
  }),
  url: z.string(),
  headers: z
    .record(
      z.string(),
      z.union([z.string(), z.array(z.string())], { error: 'must be a string or an array of strings' }),
    )
    .nullish(),
  body: z
    .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())], {
      error: 'must be a string, a JSON object or a JSON array',
    })
    .nullish(),
  bodyEncoding: z.enum(['utf8', 'base64'], { error: 'must be utf8 or base64' }).nullish(),
  timeoutMs: z.number().nullish(),
  notBefore: z.string().nullish(),
  delayMs: z.number().nullish(),
  retry: z
    .object({
      maxAttempts: z.number().nullish(),
      backoff: z.object({ baseMs: z.number().nullish(), maxMs: z.number().nullish() }).nullish(),
      retryOn: z
        .object({
          statuses: z.array(z.number()).nullish(),
          errors: z
            .array(z.enum(SEND_ERROR_CODES, { error: `must be one of ${SEND_ERROR_CODES.join(', ')}` }))
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
  flowControl: z
    .object({
      key: z.string().nullish(),
      rate: z.number().nullish(),
      periodMs: z.number().nullish(),
      burst: z.number().nullish(),
      parallelism: z.number().nullish(),
    })
    .nullish(),
  secretHeaders: z.array(z.string()).nullish(),
  callback: callbackTarget,
  failureCallback: callbackTarget,
  sign: z.boolean().nullish(),
  expiresAt: z.string().nullish(),
  maxRetryDurationMs: z.number().nullish(),
})

// Assignable both ways with the same keys (optional ones included): the build breaks when openapi.yaml and this
// schema drift apart.
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false
const matchesContract: Same<z.output<typeof submitTaskBody>, SubmitTaskRequest> = true
void matchesContract

/** Shapes a POST body into the domain's inputs, or throws `invalid-request` naming every bad field. */
export function parseSubmitTaskBody(payload: unknown): {
  request: OutboundRequestInput
  retry: RetryPolicyInput
  schedule: ScheduleInput
  flowControl: FlowControlInput
  deadline: DeadlineInput
  callback?: CallbackInput
  failureCallback?: CallbackInput
  sign?: boolean
} {
  const parsed = submitTaskBody.safeParse(payload)
  if (!parsed.success) {
    throw invalidRequest(parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })))
  }
  const { notBefore, delayMs, retry, flowControl, expiresAt, maxRetryDurationMs, callback, failureCallback, sign } =
    parsed.data
  const { backoff, retryOn } = retry ?? {}
  return {
    request: requestOf(parsed.data),
    flowControl: { ...flowControl, key: flowControl?.key ?? null },
    deadline: {
      ...(expiresAt != null && { expiresAt }),
      ...(maxRetryDurationMs != null && { maxRetryDurationMs }),
    },
    ...(callback != null && { callback: callbackOf(callback) }),
    ...(failureCallback != null && { failureCallback: callbackOf(failureCallback) }),
    ...(sign != null && { sign }),
    schedule: { ...(notBefore != null && { notBefore }), ...(delayMs != null && { delayMs }) },
    retry: {
      ...(retry?.maxAttempts != null && { maxAttempts: retry.maxAttempts }),
      ...(backoff != null && {
        backoff: {
          ...(backoff.baseMs != null && { baseMs: backoff.baseMs }),
          ...(backoff.maxMs != null && { maxMs: backoff.maxMs }),
        },
      }),
      ...(retryOn != null && {
        retryOn: {
          ...(retryOn.statuses != null && { statuses: retryOn.statuses }),
          ...(retryOn.errors != null && { errors: retryOn.errors }),
        },
      }),
    },
  }
}

function callbackOf({ url, headers, secretHeaders }: NonNullable<z.output<typeof callbackTarget>>): CallbackInput {
  return { url, ...(headers != null && { headers }), ...(secretHeaders != null && { secretHeaders }) }
}

function requestOf(data: z.output<typeof submitTaskBody>) {
  const { method, url, headers, body, bodyEncoding, timeoutMs, secretHeaders } = data
  const input: OutboundRequestInput = {
    method,
    url,
    ...(headers != null && { headers }),
    ...(secretHeaders != null && { secretHeaders }),
    ...(bodyEncoding != null && { bodyEncoding }),
    ...(timeoutMs != null && { timeoutMs }),
  }
  if (typeof body === 'string') return { ...input, body }
  if (body == null) return input
  // The original service took `body` as JSON and sent it as JSON text; its clients still do.
  if (bodyEncoding === 'base64') {
    throw invalidRequest([{ path: 'bodyEncoding', message: 'applies only to a string body' }])
  }
  const typed = Object.keys(headers ?? {}).some((name) => name.toLowerCase() === 'content-type')
  return {
    ...input,
    ...(!typed && { headers: { ...headers, 'Content-Type': 'application/json' } }),
    body: JSON.stringify(body),
  }
}
