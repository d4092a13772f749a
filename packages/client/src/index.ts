import type { components, paths } from '@request-tasker/contract'
import createClient, { type Client } from 'openapi-fetch'
import { problemFrom, RequestTaskerProblem } from './problem.js'

export type { components, paths } from '@request-tasker/contract'
export { type ProblemDocument, RequestTaskerProblem } from './problem.js'

type Schemas = components['schemas']
export type Task = Schemas['Task']
export type TaskStatus = Schemas['TaskStatus']
export type TaskSummary = Schemas['TaskSummary']
export type TaskPage = Schemas['TaskPage']
export type SubmitTaskRequest = Schemas['SubmitTaskRequest']
export type BatchItem = Schemas['BatchItem']
export type BatchResult = Schemas['BatchResult']
export type TaskFilter = Schemas['TaskFilter']
export type ListQuery = NonNullable<paths['/tasks']['get']['parameters']['query']>

/** The statuses a task does not leave by itself. */
export const FINAL_STATUSES: readonly TaskStatus[] = ['done', 'error', 'cancelled']
export const isFinal = (status: TaskStatus) => FINAL_STATUSES.includes(status)

/** The longest single long-poll the server takes (`wait`, seconds). */
const MAX_WAIT_SECONDS = 60

export type ClientOptions = {
  /** Where the server is, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string
  /** An API key the server knows; sent as `Authorization: Bearer <key>`. */
  apiKey: string
  /** Another fetch (a test's, a proxy's); the global one when absent. */
  fetch?: typeof fetch
}

export type SubmitOptions = { idempotencyKey?: string; traceparent?: string; signal?: AbortSignal }
export type WaitOptions = {
  /** How long to wait in all, across as many long-polls as that takes; 60 s when absent. */
  timeoutMs?: number
  signal?: AbortSignal
}

export type TaskClient = ReturnType<typeof createTaskClient>

/**
 * A typed client of the RequestTasker API, on the types generated from openapi.yaml. Every method resolves with the
 * answer's body, or rejects with a RequestTaskerProblem carrying the problem the server answered.
 */
export function createTaskClient(options: ClientOptions) {
  const http: Client<paths> = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: { authorization: `Bearer ${options.apiKey}` },
    ...(options.fetch && { fetch: options.fetch }),
  })

  async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    const { data, error, response } = await call
    if (!response.ok || data === undefined) throw problemFrom(response, error)
    return data
  }

  const client = {
    /** Submits one task; `created` is false when `idempotencyKey` named an earlier submission (its id comes back). */
    async submit(task: SubmitTaskRequest, opts: SubmitOptions = {}): Promise<{ id: string; created: boolean }> {
      const { data, error, response } = await http.POST('/tasks', {
        body: task,
        params: {
          header: {
            ...(opts.idempotencyKey !== undefined && { 'Idempotency-Key': opts.idempotencyKey }),
            ...(opts.traceparent !== undefined && { traceparent: opts.traceparent }),
          },
        },
        ...(opts.signal && { signal: opts.signal }),
      })
      if (!data) throw problemFrom(response, error)
      return { id: data.id, created: response.status === 201 }
    },

    /** Submits up to 1,000 tasks at once; each item's outcome comes back at its place in `results`. */
    submitBatch(tasks: BatchItem[], opts: Omit<SubmitOptions, 'idempotencyKey'> = {}): Promise<BatchResult> {
      return unwrap(
        http.POST('/tasks/batch', {
          body: { tasks },
          params: { header: { ...(opts.traceparent !== undefined && { traceparent: opts.traceparent }) } },
          ...(opts.signal && { signal: opts.signal }),
        }),
      )
    },

    /** The task as it stands now. */
    get(id: string, opts: { signal?: AbortSignal } = {}): Promise<Task> {
      return unwrap(http.GET('/tasks/{id}', { params: { path: { id } }, ...(opts.signal && { signal: opts.signal }) }))
    },

    /**
     * The task once it has ended (`done`, `error`, `cancelled`), or as it stands when `timeoutMs` runs out: one
     * long-poll after another, each up to 60 s, so a wait of minutes holds one request at a time and no loop of reads.
     */
    async wait(id: string, opts: WaitOptions = {}): Promise<Task> {
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
      for (;;) {
        const seconds = Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.ceil((deadline - Date.now()) / 1000)))
        let task: Task
        try {
          task = await unwrap(
            http.GET('/tasks/{id}', {
              params: { path: { id }, query: { wait: seconds } },
              ...(opts.signal && { signal: opts.signal }),
            }),
          )
        } catch (err) {
          // A server shedding a burst of waits (503) or a key past its limit (429) asks to come back later: the
          // wait goes on after Retry-After, while the deadline allows.
          const retryMs =
            err instanceof RequestTaskerProblem && (err.status === 503 || err.status === 429)
              ? (err.retryAfterSeconds ?? 1) * 1000
              : null
          if (retryMs === null || Date.now() + retryMs >= deadline || opts.signal?.aborted) throw err
          await sleep(retryMs, opts.signal)
          continue
        }
        if (isFinal(task.status) || Date.now() >= deadline || seconds === 0 || opts.signal?.aborted) return task
      }
    },

    /** One page of the key's tasks, newest first; pass its `nextCursor` as `cursor` for the next. */
    page(query: ListQuery = {}, opts: { signal?: AbortSignal } = {}): Promise<TaskPage> {
      return unwrap(http.GET('/tasks', { params: { query }, ...(opts.signal && { signal: opts.signal }) }))
    },

    /** Every task matching `query`, newest first, fetched a page (`limit`, 100 by default) at a time as you iterate. */
    async *list(
      query: Omit<ListQuery, 'cursor'> = {},
      opts: { signal?: AbortSignal } = {},
    ): AsyncGenerator<TaskSummary> {
      let cursor: string | null | undefined
      do {
        const page = await client.page({ ...query, ...(cursor && { cursor }) }, opts)
        yield* page.items
        cursor = page.nextCursor
      } while (cursor)
    },

    /** Withdraws a new or scheduled task; a 409 problem names the status of one that cannot be. */
    cancel(id: string): Promise<Task> {
      return unwrap(http.POST('/tasks/{id}/cancel', { params: { path: { id } } }))
    },

    /** Sends a task in error again with a fresh budget; a 409 problem names the status of one that is not. */
    retry(id: string): Promise<Task> {
      return unwrap(http.POST('/tasks/{id}/retry', { params: { path: { id } } }))
    },

    /** Cancels every new or scheduled task matching `filter`; answers how many. Safe to repeat. */
    async cancelMatching(filter: TaskFilter = {}): Promise<number> {
      return (await unwrap(http.POST('/tasks/cancel', { body: filter }))).cancelled
    },

    /** Sends again every task in error matching `filter`; answers how many. Safe to repeat. */
    async retryMatching(filter: TaskFilter = {}): Promise<number> {
      return (await unwrap(http.POST('/tasks/retry', { body: filter }))).retried
    },
  }
  return client
}

export { RequestTaskerProblem as Problem }

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
