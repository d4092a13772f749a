import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { type AppName, buildApps, ENTRY } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'

// The machine's own Node.js, older than the apps need: Debian's, which the set-up installs for npm where there is
// none. Started with it, undici would fail while being imported, with an error that does not say why.
const OLDER_NODE = '/usr/bin/node'

// An app started against a database its migrations have not reached would fail on its first write, long after
// the deploy looked healthy. Both refuse at boot instead, naming what is missing, and exit 1.
const e2e = useE2e('startup')
const MIGRATIONS = readdirSync(new URL('../../migrations', import.meta.url))
  .map((file) => file.replace(/\.sql$/, ''))
  .sort()

describe.each<AppName>(['server', 'tasker'])('the %s', (name) => {
  it('refuses to start on a database without the migrations, naming the missing one', async () => {
    const url = new URL(e2e.appEnv().DATABASE_URL!)
    url.searchParams.set('options', `-c search_path=unmigrated_${randomBytes(4).toString('hex')}`)

    const app = e2e.spawnApp(name, { DATABASE_URL: url.href })

    expect(await app.exited, `log: ${app.logPath}`).toEqual({ code: 1, signal: null })
    expect(app.logLines().filter((l) => l.level === 60)).toEqual([
      expect.objectContaining({
        msg: 'refusing to start',
        err: expect.objectContaining({
          message: expect.stringMatching(
            new RegExp(`^the database lacks ${MIGRATIONS.length} migration\\(s\\): ${MIGRATIONS.join(', ')}\\. `),
          ),
        }),
      }),
    ])
  })
})

describe.each<AppName>(['server', 'tasker'])('the %s, started with an older Node.js', (name) => {
  it('refuses before loading anything that needs a newer one, saying what to run', () => {
    const version = spawnSync(OLDER_NODE, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? ''
    expect(version, `this test needs a Node.js older than 24 at ${OLDER_NODE}`).toMatch(/^v(1\d|2[0-3])\./)
    buildApps()

    const run = spawnSync(OLDER_NODE, [ENTRY[name]], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })

    expect(run.status).toBe(1)
    expect(run.stderr).toContain(`needs Node.js 24 or later; this is Node.js ${version} (${OLDER_NODE})`)
    expect(run.stderr).toContain('./scripts/task up')
    expect(run.stderr).not.toContain("reading 'bind'")
    expect(run.stdout).toBe('') // main.js never ran: it would have logged
  })
})
