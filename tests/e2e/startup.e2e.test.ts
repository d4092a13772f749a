import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { AppName } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'

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
