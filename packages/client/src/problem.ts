import type { components } from '@request-tasker/contract'

export type ProblemDocument = components['schemas']['Problem']

/**
 * An answer the server refused with, as the RFC 9457 document it sent: `type` is stable (`/problems/task-not-found`,
 * `/problems/invalid-request`, …), `errors` names each refused field, `retryAfterSeconds` says when to try a 429 or a
 * 503 again.
 */
export class RequestTaskerProblem extends Error {
  override readonly name = 'RequestTaskerProblem'
  readonly type: string
  readonly title: string
  readonly detail: string | undefined
  readonly errors: ReadonlyArray<{ path: string; message: string }>
  readonly taskStatus: ProblemDocument['taskStatus']

  constructor(
    readonly status: number,
    readonly problem: ProblemDocument,
    readonly retryAfterSeconds: number | null = null,
  ) {
    const fields = problem.errors?.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)) ?? []
    super(
      `${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}${fields.length ? ` (${fields.join('; ')})` : ''}`,
    )
    this.type = problem.type
    this.title = problem.title
    this.detail = problem.detail
    this.errors = problem.errors ?? []
    this.taskStatus = problem.taskStatus
  }
}

/** The problem of a failed answer; a body that is not one (a proxy's HTML page, say) still becomes one. */
export function problemFrom(response: Response, body: unknown): RequestTaskerProblem {
  const retryAfter = Number(response.headers.get('retry-after'))
  const document =
    body && typeof body === 'object' && 'type' in body && 'title' in body
      ? (body as ProblemDocument)
      : { type: 'about:blank', title: response.statusText || 'Error', status: response.status }
  return new RequestTaskerProblem(
    response.status,
    document,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
  )
}
