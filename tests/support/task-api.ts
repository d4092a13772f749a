import { Agent, request } from 'undici'
import { expect } from 'vitest'

/** The body of POST /tasks (and of the original POST /task). */
export type SubmitBody = {
  method: string
  url: string
  headers?: Record<string, string | string[]>
  body?: string
  bodyEncoding?: 'utf8' | 'base64'
  timeoutMs?: number
  notBefore?: string
  delayMs?: number
  retry?: {
    maxAttempts?: number
    backoff?: { baseMs?: number; maxMs?: number }
    retryOn?: { statuses?: number[]; errors?: string[] }
  }
  secretHeaders?: string[]
  callback?: { url: string; headers?: Record<string, string>; secretHeaders?: string[] }
  failureCallback?: { url: string; headers?: Record<string, string>; secretHeaders?: string[] }
  sign?: boolean
  expiresAt?: string
  maxRetryDurationMs?: number
  flowControl?: { key?: string; rate?: number; periodMs?: number; burst?: number; parallelism?: number }
}

/** GET /tasks/:id, as far as these tests read it. */
export type TaskJson = {
  id: string
  status: 'new' | 'scheduled' | 'in_process' | 'done' | 'error' | 'cancelled'
  history: Array<{ status: string; at: string }>
  attemptCount: number
  attempts: Array<{ n: number; startedAt: string; durationMs: number; httpStatusCode?: number; error?: unknown }>
  [field: string]: unknown
}

export type Submitted = { status: number; id: string | null; location: string | null; body: unknown }

/** `original` uses the first service's routes (/task) and its bare `Authorization: <key>`. */
export type Route = 'current' | 'original'

export type TaskApi = {
  submit(body: SubmitBody, route?: Route, headers?: Record<string, string>): Promise<Submitted>
  get(id: string, route?: Route): Promise<{ status: number; json: TaskJson }>
  /** POST /tasks/:id/retry. */
  retry(id: string): Promise<{ status: number; json: TaskJson }>
  /** POST /tasks/:id/cancel. */
  cancel(id: string): Promise<{ status: number; json: TaskJson }>
  /** Polls GET until the task is done or error, and returns that view. */
  waitUntilFinished(id: string, timeoutMs?: number): Promise<TaskJson>
  /** POST /signing-secrets, GET /signing-secrets, DELETE /signing-secrets/:id. */
  createSigningSecret(): Promise<{ status: number; json: { id: string; createdAt: string; secret: string } }>
  listSigningSecrets(): Promise<{ status: number; json: { secrets: Array<{ id: string; secret: string }> } }>
  deleteSigningSecret(id: string): Promise<{ status: number }>
  /** The raw body of every answer this client got, in order: what a client could ever have read. */
  readonly transcript: readonly string[]
  close(): Promise<void>
}

export function taskApi(baseUrl: string, apiKey: string, connections = 16): TaskApi {
  // Its own agent: a killed server leaves dead sockets behind, which must not leak into the next test's requests.
  const agent = new Agent({ connections })
  const auth = (route: Route) => (route === 'current' ? `Bearer ${apiKey}` : apiKey)
  const path = (route: Route) => (route === 'current' ? '/tasks' : '/task')
  const transcript: string[] = []
  async function read(res: Awaited<ReturnType<typeof request>>) {
    const text = await res.body.text()
    transcript.push(text)
    return text === '' ? null : JSON.parse(text)
  }
  async function post(url: string) {
    const res = await request(`${baseUrl}${url}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: auth('current') },
    })
    return { status: res.statusCode, json: (await read(res)) as TaskJson }
  }
  async function call(method: 'GET' | 'POST' | 'DELETE', url: string) {
    const res = await request(`${baseUrl}${url}`, {
      method,
      dispatcher: agent,
      headers: { authorization: auth('current') },
    })
    return { status: res.statusCode, json: await read(res) }
  }

  const api: TaskApi = {
    async submit(body, route = 'current', headers = {}) {
      const res = await request(`${baseUrl}${path(route)}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: auth(route), 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })
      const json = (await read(res)) as { id?: string }
      const location = res.headers.location
      return {
        status: res.statusCode,
        id: res.statusCode === 201 ? (json.id ?? null) : null,
        location: typeof location === 'string' ? location : null,
        body: json,
      }
    },
    async get(id, route = 'current') {
      const res = await request(`${baseUrl}${path(route)}/${id}`, {
        dispatcher: agent,
        headers: { authorization: auth(route) },
      })
      return { status: res.statusCode, json: (await read(res)) as TaskJson }
    },
    createSigningSecret: () => call('POST', '/signing-secrets'),
    listSigningSecrets: () => call('GET', '/signing-secrets'),
    deleteSigningSecret: (id) => call('DELETE', `/signing-secrets/${id}`),
    transcript,
    retry: (id) => post(`/tasks/${id}/retry`),
    cancel: (id) => post(`/tasks/${id}/cancel`),
    async waitUntilFinished(id, timeoutMs = 30_000) {
      let last: TaskJson | undefined
      await expect
        .poll(
          async () => {
            last = (await api.get(id)).json
            return last.status
          },
          { timeout: timeoutMs, interval: 50 },
        )
        .toMatch(/^(done|error)$/)
      return last!
    },
    close: () => agent.close(),
  }
  return api
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results keep the order of `items`. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  async function worker() {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}
