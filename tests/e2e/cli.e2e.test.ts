import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import type { ServerProcess } from '../support/app-process.js'
import { API_KEY, useE2e } from '../support/e2e.js'
import { closedPort, type TargetServer } from '../support/target-server.js'

// The built `rtask` binary (apps/cli/dist/main.js, as its package's bin names it) against both apps as built.
const RTASK = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url))
const e2e = useE2e('cli')
let server: ServerProcess
let target: TargetServer

beforeAll(async () => {
  server = await e2e.startServer()
  await e2e.startTasker()
  target = await e2e.startTarget((req) => ({ status: req.url === '/teapot' ? 418 : 200, body: `got ${req.method}` }))
})

/** Runs the binary without blocking this process, whose target server must keep answering meanwhile. */
function rtask(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [RTASK, ...args],
      { env: { PATH: process.env.PATH ?? '', RTASK_URL: server.url, RTASK_KEY: API_KEY, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    )
  })
}

describe('rtask', () => {
  it('sends a task and waits for it: exit 0, the response shown, nothing but the result on stdout', async () => {
    const run = await rtask(['send', 'POST', `${target.url}/hook`, '-H', 'X-Tag: one', '-d', '{"a":1}', '--wait'])
    expect(run).toMatchObject({ code: 0, stderr: '' })
    expect(run.stdout).toMatch(/^[0-9a-f-]{36} {2}done\n/)
    expect(run.stdout).toContain('response 200')
    expect(run.stdout).toContain('body got POST')
    const sent = target.requests.find((r) => r.url === '/hook')!
    expect(sent.body.toString()).toBe('{"a":1}')
    expect(sent.rawHeaders).toContain('X-Tag')
  })

  it('exits 1 when the task ends in error, 3 when the wait runs out first, 2 on a usage mistake', async () => {
    const dead = await closedPort()
    const failed = await rtask(['send', 'GET', `http://127.0.0.1:${dead}/`, '--max-attempts', '1', '--wait', '--json'])
    expect(failed.code).toBe(1)
    expect(JSON.parse(failed.stdout)).toMatchObject({ status: 'error', error: { code: 'connect' } })

    const later = await rtask(['send', 'GET', `${target.url}/later`, '--delay', '3600000'])
    expect(later.code).toBe(0)
    const id = later.stdout.trim()
    const waited = await rtask(['wait', id, '--for', '1'])
    expect(waited.code).toBe(3)
    expect(waited.stderr).toContain(`run \`rtask wait ${id}\``)

    expect((await rtask(['send', 'FETCH', target.url])).code).toBe(2)
    expect((await rtask(['send', 'GET'])).stderr).toContain('see `rtask send --help`')
    expect(await rtask(['ls'], { RTASK_KEY: '' })).toMatchObject({ code: 2, stdout: '' })
    expect((await rtask(['nope'])).code).toBe(2)
  })

  it('lists, gets, cancels and retries, each as --json for scripts and in words by default', async () => {
    const later = await rtask(['send', 'GET', `${target.url}/to-cancel`, '--delay', '3600000', '--json'])
    const { id } = JSON.parse(later.stdout) as { id: string }

    const listed = await rtask(['ls', '--status', 'scheduled', '--json'])
    expect(listed.code).toBe(0)
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((t) => t.id)).toContain(id)
    expect((await rtask(['ls', '--status', 'scheduled'])).stdout).toMatch(/^ID +STATUS +METHOD +DESTINATION/)
    expect((await rtask(['get', id])).stdout).toContain(`${id}  scheduled`)

    const cancelled = await rtask(['cancel', id, '--json'])
    expect(cancelled.code).toBe(0)
    expect(JSON.parse(cancelled.stdout).status).toBe('cancelled')
    const again = await rtask(['cancel', id])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('409 Task not cancellable')

    const dead = await closedPort()
    const failed = JSON.parse(
      (await rtask(['send', 'GET', `http://127.0.0.1:${dead}/`, '--max-attempts', '1', '--wait', '--json'])).stdout,
    )
    const retried = await rtask(['retry', failed.id, '--json'])
    expect(retried.code).toBe(0)
    expect(JSON.parse(retried.stdout).status).toBe('new')
  })

  it('tails new tasks and their ends as they happen, until Ctrl-C', async () => {
    const since = new Date().toISOString()
    const child = spawn(process.execPath, [RTASK, 'tail', '--json', '--interval', '200', '--since', since], {
      env: { PATH: process.env.PATH ?? '', RTASK_URL: server.url, RTASK_KEY: API_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const events: Array<{ event: string; id: string }> = []
    createInterface({ input: child.stdout! }).on('line', (line) => events.push(JSON.parse(line)))
    try {
      const ok = (await rtask(['send', 'GET', `${target.url}/tailed`])).stdout.trim()
      const teapot = (await rtask(['send', 'GET', `${target.url}/teapot`])).stdout.trim()

      await expect
        .poll(() => events.map((e) => `${e.event} ${e.id}`).sort(), { timeout: 30_000 })
        .toEqual([`done ${ok}`, `done ${teapot}`, `new ${ok}`, `new ${teapot}`].sort())
    } finally {
      child.kill('SIGINT')
    }
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
  })

  it('shows examples first in its help', async () => {
    const help = await rtask(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout.split('\n')[2]).toBe('Examples')
    expect((await rtask(['send', '--help'])).stdout).toMatch(/^Submit a task[^\n]*\n\nExamples\n {2}rtask send GET/)
  })
})
