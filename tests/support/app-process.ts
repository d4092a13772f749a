import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { expect, vi } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const LOG_DIR = `${ROOT}.local/e2e-logs`
/** Each app's entry point, which checks the Node.js version before it loads the app (start.ts). */
export const ENTRY = { server: `${ROOT}apps/server/dist/start.js`, tasker: `${ROOT}apps/tasker/dist/start.js` }

export type AppName = keyof typeof ENTRY
export type Exit = { code: number | null; signal: NodeJS.Signals | null }
/** One JSON log line of an app (pino). */
export type LogLine = { msg?: string; level?: number; [field: string]: unknown }

export type AppProcess = {
  readonly name: AppName
  readonly pid: number
  /** Everything the process wrote to stdout and stderr. */
  readonly logPath: string
  readonly exited: Promise<Exit>
  /** The JSON lines written to stdout so far, in order. */
  logLines(): readonly LogLine[]
  /** Resolves with the first log line that `match` accepts, even one written before the call. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  /** kill -9, then waits for the exit. */
  kill(): Promise<Exit>
  /** SIGTERM, then waits for the exit and expects code 0. */
  stop(timeoutMs?: number): Promise<void>
}
export type ServerProcess = AppProcess & {
  readonly url: string
  readonly port: number
  /** `http://127.0.0.1:<port>/metrics`, the server's Prometheus listener. */
  readonly metricsUrl: string
}

// A process the test forgot (or a worker torn down mid-test) must not outlive the test run.
const alive = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL')
})

let built = false
/** The apps run from their build; tsc -b is a no-op when dist is current. */
export function buildApps(): void {
  if (built) return
  const tsc = spawnSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-b'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  if (tsc.status !== 0) throw new Error(`tsc -b failed:\n${tsc.stdout}${tsc.stderr}`)
  built = true
}

let started = 0
/** Starts `node apps/<name>/dist/start.js` with exactly `env` (plus PATH), logging to a file under .local/e2e-logs. */
export function spawnApp(name: AppName, label: string, env: Record<string, string>): AppProcess {
  buildApps()
  mkdirSync(LOG_DIR, { recursive: true })
  const logPath = `${LOG_DIR}/${label}.${name}-${++started}.log`
  const log = createWriteStream(logPath)
  // Not the test runner's environment: its DATABASE_URL names no schema, and .env values must not leak in.
  // The server runs with the heap settings of .env (SERVER_NODE_OPTIONS), as scripts/run-apps.sh starts it.
  const nodeOptions = name === 'server' ? { NODE_OPTIONS: process.env.SERVER_NODE_OPTIONS ?? '' } : {}
  const child = spawn(process.execPath, [ENTRY[name]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...nodeOptions, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`could not start ${name}`)
  alive.add(child)

  const lines: LogLine[] = []
  const waiters = new Set<(line: LogLine) => void>()
  child.stdout!.pipe(log, { end: false })
  child.stderr!.pipe(log, { end: false })
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = parseLine(text)
    lines.push(line)
    for (const waiter of waiters) waiter(line)
  })
  // 'close' comes after both pipes drained, so the log file is complete once `exited` resolves.
  const exited = once(child, 'close').then(([code, signal]) => {
    alive.delete(child)
    log.end()
    return { code, signal } as Exit
  })

  const app: AppProcess = {
    name,
    pid: child.pid,
    logPath,
    exited,
    logLines: () => lines,
    waitForLog(match, timeoutMs = 60_000) {
      const seen = lines.find(match)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const done = () => {
          waiters.delete(onLine)
          clearTimeout(timer)
        }
        const onLine = (line: LogLine) => {
          if (!match(line)) return
          done()
          resolve(line)
        }
        const timer = setTimeout(() => {
          done()
          reject(failure(app, `no matching log line within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(onLine)
        void exited.then((exit) => {
          done()
          reject(failure(app, `exited (${describeExit(exit)}) before the awaited log line`))
        })
      })
    },
    async kill() {
      if (alive.has(child)) child.kill('SIGKILL')
      return exited
    },
    async stop(timeoutMs = 40_000) {
      child.kill('SIGTERM')
      const exit = await Promise.race([exited, sleep(timeoutMs).then(() => null)])
      if (exit === null) {
        await app.kill()
        throw failure(app, `still running ${timeoutMs} ms after SIGTERM`)
      }
      expect(exit, `${name} should exit 0 on SIGTERM; log: ${logPath}`).toEqual({ code: 0, signal: null })
    },
  }
  return app
}

export type StartOptions = {
  /** Called as soon as the process exists, so a caller can kill it even when it never becomes ready. */
  track?: (app: AppProcess) => void
  readyMs?: number
}

/** Ready once the tasker has joined its consumer group and logged so. */
export async function startTasker(label: string, env: Record<string, string>, options: StartOptions = {}) {
  const tasker = spawnApp('tasker', label, env)
  options.track?.(tasker)
  await tasker.waitForLog((l) => l.msg === 'tasker started', options.readyMs ?? 60_000)
  return tasker
}

/** Ready once GET /health/live answers 200; PORT 0 (the default here) takes the port the server logs. */
export async function startServer(
  label: string,
  env: Record<string, string>,
  options: StartOptions = {},
): Promise<ServerProcess> {
  // Any free ports: several servers run side by side, and other checkouts' tests on the same machine too.
  const server = spawnApp('server', label, {
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    ...env,
  })
  options.track?.(server)
  const listening = await server.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at'))
  const url = String(listening.msg).replace('Server listening at ', '')
  await vi.waitFor(
    async () => {
      const res = await fetch(`${url}/health/live`)
      if (res.status !== 200) throw new Error(`GET /health/live answered ${res.status}`)
    },
    { timeout: 10_000, interval: 50 },
  )
  const metrics = await server.waitForLog((l) => l.msg === 'metrics listening')
  return { ...server, url, port: Number(new URL(url).port), metricsUrl: String(metrics.url) }
}

function parseLine(text: string): LogLine {
  try {
    return JSON.parse(text) as LogLine
  } catch {
    return { msg: text }
  }
}

function failure(app: AppProcess, problem: string): Error {
  let tail = ''
  try {
    tail = readFileSync(app.logPath, 'utf8').split('\n').slice(-15).join('\n')
  } catch {}
  return new Error(`${app.name} (pid ${app.pid}) ${problem}; log: ${app.logPath}\n${tail}`)
}

function describeExit({ code, signal }: Exit): string {
  return signal ? `signal ${signal}` : `code ${code}`
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
