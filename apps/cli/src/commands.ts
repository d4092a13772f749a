import { readFileSync } from 'node:fs'
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import {
  isFinal,
  type SubmitTaskRequest,
  type Task,
  type TaskClient,
  type TaskStatus,
  type TaskSummary,
} from '@request-tasker/client'
import { type Io, SUMMARY_HEADER, summaryLine, taskLines, withSpinner } from './output.js'

/** A mistake in how the command was called: exit 2, and nothing was sent. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message)
  }
}

export const EXIT = { done: 0, failed: 1, usage: 2, notYet: 3 } as const
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']
const STATUSES = ['new', 'scheduled', 'in_process', 'done', 'error', 'cancelled']

type Ctx = { client: TaskClient; io: Io; json: boolean }

type Parsed = { values: Record<string, string | boolean | Array<string | boolean> | undefined>; positionals: string[] }

function parse(command: string, args: string[], options: ParseArgsOptionsConfig): Parsed {
  try {
    return parseArgs({ args, options: { ...options, json: { type: 'boolean' } }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message, command)
  }
}

function positive(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`${name} must be a whole number from 0 to ${max}`)
  return n
}

function oneId(command: string, positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one task id`, command)
  return positionals[0] as string
}

/** The exit code a task's status means once waited for. */
const exitFor = (status: TaskStatus) => (status === 'done' ? EXIT.done : isFinal(status) ? EXIT.failed : EXIT.notYet)

function showTask({ io, json }: Ctx, task: Task) {
  io.out(json ? JSON.stringify(task) : taskLines(task).join('\n'))
}

async function waitAndShow(ctx: Ctx, id: string, seconds: number): Promise<number> {
  const task = await withSpinner(ctx.io, `waiting for ${id}`, ctx.client.wait(id, { timeoutMs: seconds * 1000 }))
  showTask(ctx, task)
  if (!isFinal(task.status))
    ctx.io.err(`rtask: ${id} is still ${task.status} after ${seconds} s; run \`rtask wait ${id}\` to wait on`)
  return exitFor(task.status)
}

export async function send(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('send', args, {
    header: { type: 'string', short: 'H', multiple: true },
    data: { type: 'string', short: 'd' },
    base64: { type: 'boolean' },
    timeout: { type: 'string' },
    delay: { type: 'string' },
    'not-before': { type: 'string' },
    'max-attempts': { type: 'string' },
    'idempotency-key': { type: 'string' },
    wait: { type: 'boolean' },
    'wait-for': { type: 'string' },
  })
  const [method, url, ...extra] = positionals
  if (!method || !url || extra.length > 0) throw new UsageError('send takes a METHOD and a URL', 'send')
  if (!METHODS.includes(method.toUpperCase()))
    throw new UsageError(`METHOD must be one of ${METHODS.join(', ')}`, 'send')
  const headers: Record<string, string[]> = {}
  for (const line of (values.header as string[] | undefined) ?? []) {
    const colon = line.indexOf(':')
    if (colon < 1) throw new UsageError(`-H takes 'Name: value', not ${JSON.stringify(line)}`, 'send')
    const name = line.slice(0, colon).trim()
    headers[name] = [...(headers[name] ?? []), line.slice(colon + 1).trim()]
  }
  const task: SubmitTaskRequest = {
    method: method.toUpperCase() as SubmitTaskRequest['method'],
    url,
    ...(Object.keys(headers).length > 0 && {
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.length === 1 ? (v[0] as string) : v])),
    }),
    ...bodyOf(values.data as string | undefined, values.base64 === true),
    ...(values.timeout !== undefined && { timeoutMs: positive('--timeout', values.timeout, 60_000) }),
    ...(values.delay !== undefined && { delayMs: positive('--delay', values.delay) }),
    ...(values['not-before'] !== undefined && { notBefore: values['not-before'] as string }),
    ...(values['max-attempts'] !== undefined && {
      retry: { maxAttempts: positive('--max-attempts', values['max-attempts'], 100) },
    }),
  }
  const waitFor = positive('--wait-for', values['wait-for']) ?? 600
  const key = values['idempotency-key'] as string | undefined
  const { id, created } = await ctx.client.submit(task, key !== undefined ? { idempotencyKey: key } : {})
  if (values.wait) return waitAndShow(ctx, id, waitFor)
  ctx.io.out(
    ctx.json ? JSON.stringify({ id, created }) : created ? id : `${id} (already submitted with this idempotency key)`,
  )
  return EXIT.done
}

function bodyOf(data: string | undefined, base64: boolean): Pick<SubmitTaskRequest, 'body' | 'bodyEncoding'> {
  if (data === undefined) return {}
  let bytes: Buffer
  if (data.startsWith('@')) {
    const path = data.slice(1)
    try {
      bytes = readFileSync(path === '-' ? 0 : path)
    } catch (err) {
      throw new UsageError(`cannot read ${path}: ${(err as Error).message}`, 'send')
    }
  } else {
    bytes = Buffer.from(data, 'utf8')
  }
  return base64 ? { body: bytes.toString('base64'), bodyEncoding: 'base64' } : { body: bytes.toString('utf8') }
}

export async function get(ctx: Ctx, args: string[]): Promise<number> {
  const { positionals } = parse('get', args, {})
  showTask(ctx, await ctx.client.get(oneId('get', positionals)))
  return EXIT.done
}

export async function wait(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('wait', args, { for: { type: 'string' } })
  return waitAndShow(ctx, oneId('wait', positionals), positive('--for', values.for) ?? 600)
}

export async function retry(ctx: Ctx, args: string[]): Promise<number> {
  const { positionals } = parse('retry', args, {})
  showTask(ctx, await ctx.client.retry(oneId('retry', positionals)))
  return EXIT.done
}

export async function cancel(ctx: Ctx, args: string[]): Promise<number> {
  const { positionals } = parse('cancel', args, {})
  showTask(ctx, await ctx.client.cancel(oneId('cancel', positionals)))
  return EXIT.done
}

export async function ls(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('ls', args, {
    status: { type: 'string', multiple: true },
    destination: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean' },
  })
  if (positionals.length > 0) throw new UsageError('ls takes no arguments, only flags', 'ls')
  const status = ((values.status as string[] | undefined) ?? []).flatMap((s) => s.split(','))
  const unknown = status.filter((s) => !STATUSES.includes(s))
  if (unknown.length > 0)
    throw new UsageError(`--status must name ${STATUSES.join(', ')}; not ${unknown.join(', ')}`, 'ls')
  const limit = values.all ? Number.POSITIVE_INFINITY : (positive('--limit', values.limit, 1_000_000) ?? 20)
  const query = {
    ...(status.length > 0 && { status: status as TaskStatus[] }),
    ...(values.destination !== undefined && { destination: values.destination as string }),
    ...(values.since !== undefined && { createdAfter: values.since as string }),
    ...(values.until !== undefined && { createdBefore: values.until as string }),
    limit: Math.min(1_000, Math.max(1, Number.isFinite(limit) ? limit : 1_000)),
  }
  const shown: TaskSummary[] = []
  for await (const task of ctx.client.list(query)) {
    if (shown.length >= limit) break
    // The header once the first page came back, so a refusal prints nothing on stdout.
    if (!ctx.json && shown.length === 0) ctx.io.out(SUMMARY_HEADER)
    shown.push(task)
    if (!ctx.json) ctx.io.out(summaryLine(task))
  }
  if (ctx.json) ctx.io.out(JSON.stringify(shown))
  else if (shown.length === 0) ctx.io.err('no tasks match')
  return EXIT.done
}

/** Until `stop` aborts: new tasks as they appear, and each again when it ends (one long-poll per unfinished task). */
export async function tail(ctx: Ctx, args: string[], stop: AbortSignal): Promise<number> {
  const { values, positionals } = parse('tail', args, { interval: { type: 'string' }, since: { type: 'string' } })
  if (positionals.length > 0) throw new UsageError('tail takes no arguments, only flags', 'tail')
  const intervalMs = positive('--interval', values.interval, 60_000) ?? 1_000
  const MAX_FOLLOWED = 200
  const seen = new Set<string>()
  const pending: string[] = []
  let followed = 0
  let since = (values.since as string | undefined) ?? new Date().toISOString()
  const emit = (
    event: string,
    t: {
      id: string
      status: string
      method?: string
      destination?: string
      httpStatusCode?: number
      error?: { code: string }
    },
  ) => {
    if (ctx.json) ctx.io.out(JSON.stringify({ event, ...t }))
    else
      ctx.io.out(
        `${new Date().toISOString()}  ${event.padEnd(10)}  ${t.id}  ${t.method ?? ''} ${t.destination ?? ''} ${t.httpStatusCode ?? t.error?.code ?? ''}`.trimEnd(),
      )
  }
  const follow = () => {
    while (followed < MAX_FOLLOWED && pending.length > 0) {
      const id = pending.shift() as string
      followed++
      void (async () => {
        try {
          for (;;) {
            const task = await ctx.client.wait(id, { timeoutMs: 60_000, signal: stop })
            if (isFinal(task.status)) return emit(task.status, { ...task, destination: '' })
            if (stop.aborted) return
          }
        } catch (err) {
          if (!stop.aborted) ctx.io.err(`rtask: lost track of ${id}: ${(err as Error).message}`)
        } finally {
          followed--
          follow()
        }
      })()
    }
  }
  while (!stop.aborted) {
    try {
      const fresh: TaskSummary[] = []
      for await (const t of ctx.client.list({ createdAfter: since, limit: 1_000 }, { signal: stop })) {
        if (!seen.has(t.id)) fresh.push(t)
      }
      for (const t of fresh.reverse()) {
        seen.add(t.id)
        emit('new', t)
        if (isFinal(t.status)) emit(t.status, t)
        else pending.push(t.id)
        if (t.createdAt > since) since = t.createdAt
      }
      follow()
    } catch (err) {
      if (stop.aborted) break
      ctx.io.err(`rtask: ${(err as Error).message}; trying again`)
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, intervalMs)
      stop.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve(undefined)
      })
    })
  }
  return EXIT.done
}
