import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** A Node process the bench started; its stdout and stderr go straight to `logFile`, never through the harness. */
export type NodeProcess = {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  /** Throws when the process has exited: a scenario must not go on measuring a dead app. */
  assertAlive(): void
  /** Resolves with the first log line matching `pattern`. */
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<string>
  /** SIGTERM, then SIGKILL after `graceMs`; throws when the process had already died on its own. */
  stop(graceMs?: number): Promise<void>
  /** SIGKILL, for a process that never became ready. */
  kill(): void
}

// Whatever happens to the harness, no process it started outlives it to load the machine for the next run.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export function startNode(
  name: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; logFile: string; nodeOptions?: string[] },
): NodeProcess {
  const fd = openSync(options.logFile, 'a')
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), ...args], {
    env: options.env,
    stdio: ['ignore', fd, fd],
  })
  closeSync(fd)
  if (child.pid === undefined) throw new Error(`${name} did not start`)
  const pid = child.pid
  running.add(child)
  let exit: string | null = null
  let stopping = false
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `code ${code}`
      running.delete(child)
      resolve()
    }),
  )

  const tail = () => readFileSync(options.logFile, 'utf8').split('\n').slice(-15).join('\n')
  const assertAlive = () => {
    if (exit !== null && !stopping) throw new Error(`${name} (pid ${pid}) exited with ${exit}; log tail:\n${tail()}`)
  }

  return {
    name,
    pid,
    logFile: options.logFile,
    assertAlive,
    async waitForLog(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const line = readFileSync(options.logFile, 'utf8')
          .split('\n')
          .find((l) => pattern.test(l))
        if (line !== undefined) return line
        assertAlive()
        await sleep(50)
      }
      throw new Error(`${name} logged no line matching ${pattern} within ${timeoutMs} ms; log tail:\n${tail()}`)
    },
    async stop(graceMs = 40_000) {
      assertAlive()
      stopping = true
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(killer)
      if (exit !== 'code 0') throw new Error(`${name} (pid ${pid}) stopped uncleanly (${exit}); log tail:\n${tail()}`)
    },
    kill() {
      stopping = true
      child.kill('SIGKILL')
    },
  }
}

export async function waitForHttp(url: string, proc: NodeProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    proc.assertAlive()
    const ok = await fetch(url).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) return
    await sleep(50)
  }
  throw new Error(`${proc.name} did not answer ${url} within ${timeoutMs} ms`)
}

/** Stops every process given, even when one fails to stop cleanly; then throws the first failure. */
export async function stopAll(procs: Array<NodeProcess | undefined>): Promise<void> {
  const outcomes = await Promise.allSettled(procs.map((p) => p?.stop()))
  const failed = outcomes.find((o) => o.status === 'rejected')
  if (failed) throw failed.reason
}

/** A loopback port free right now; the process it is handed to binds it a moment later. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}
