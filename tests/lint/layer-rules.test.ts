import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The layer rules `task lint` enforces (.dependency-cruiser.mjs, and biome.json's overrides that keep `process` out
// of the domain and the use cases) must fail when broken. Each case writes a file that breaks one rule into a copy of
// the workspace's layout, package.json files and configuration, where nothing else runs, and expects that rule.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PACKAGES = ['apps/server', 'apps/tasker', 'packages/domain', 'packages/application', 'packages/infrastructure']
const CONFIGURATION = ['.dependency-cruiser.mjs', 'tsconfig.depcruise.json', 'biome.json', 'package.json']

const BREAKS: Array<{ file: string; source: string; rule: string }> = [
  {
    file: 'packages/domain/src/reads-a-file.ts',
    source: "import { readFileSync } from 'node:fs'\nexport const read = readFileSync\n",
    rule: 'domain-imports-nothing',
  },
  {
    file: 'packages/domain/src/uses-a-use-case.ts',
    source: "export * from '@request-tasker/application'\n",
    rule: 'domain-imports-nothing',
  },
  {
    file: 'packages/application/src/queries-postgres.ts',
    source: "import type pg from 'pg'\nexport type Pool = pg.Pool\n",
    rule: 'application-imports-only-domain',
  },
  {
    file: 'packages/application/src/uses-an-adapter.ts',
    source: "export * from '@request-tasker/infrastructure'\n",
    rule: 'application-imports-only-domain',
  },
  {
    file: 'packages/infrastructure/src/reaches-into-an-app.ts',
    source: "export * from '../../../apps/server/src/index.js'\n",
    rule: 'packages-never-import-apps',
  },
  {
    file: 'apps/tasker/src/imports-the-server.ts',
    source: "export * from '../../server/src/index.js'\n",
    rule: 'apps-never-import-each-other',
  },
  {
    file: 'apps/server/src/uses-an-undeclared-library.ts',
    source: "export * from 'typescript'\n", // resolvable (the root's tooling), but not in apps/server/package.json
    rule: 'only-declared-dependencies',
  },
  {
    file: 'apps/server/src/starts-a-test-server.ts',
    source: "export * from '../testing/test-server.js'\n",
    rule: 'production-never-imports-test-support',
  },
  {
    file: 'packages/infrastructure/src/uses-the-fakes.ts',
    source: "export * from '@request-tasker/application/testing'\n",
    rule: 'production-never-imports-test-support',
  },
  {
    file: 'packages/domain/src/reuses-a-test.ts',
    source: "export * from './index.test.js'\n",
    rule: 'production-never-imports-test-support',
  },
  {
    file: 'apps/server/src/uses-a-build.ts',
    source: "export * from '../../../packages/domain/dist/index.js'\n",
    rule: 'sources-not-build-output',
  },
  {
    file: 'apps/server/src/imports-nothing-there.ts',
    source: "export * from './no-such-file.js'\n",
    rule: 'resolvable',
  },
]
const CLEAN = {
  file: 'apps/server/src/follows-the-rules.ts',
  source: "export * from '@request-tasker/application'\nexport * from './index.js'\nexport const env = process.env\n",
}

let copy: string

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'layer-rules-'))
  for (const file of CONFIGURATION) cpSync(join(ROOT, file), join(copy, file))
  for (const pkg of PACKAGES) {
    cpSync(join(ROOT, pkg, 'package.json'), join(copy, pkg, 'package.json'))
    write(`${pkg}/src/index.ts`, 'export {}\n')
  }
  write('packages/domain/dist/index.js', 'export {}\n')
  // Test support and a test, for production code to reach into.
  write('apps/server/testing/test-server.ts', 'export {}\n')
  write('packages/application/testing/index.ts', 'export {}\n')
  write('packages/domain/src/index.test.ts', 'export {}\n')
  // The root's tooling (TypeScript, for one) resolves from here; the packages' own libraries do not.
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  for (const { file, source } of [...BREAKS, CLEAN]) write(file, source)
})

afterAll(() => {
  rmSync(copy, { recursive: true, force: true })
})

describe('the layer rules', () => {
  let violations: Map<string, string[]>
  beforeAll(() => {
    const run = spawnSync(
      join(ROOT, 'node_modules/.bin/depcruise'),
      ['--config', '.dependency-cruiser.mjs', '--output-type', 'json', 'apps', 'packages'],
      { cwd: copy, encoding: 'utf8' },
    )
    expect(run.stderr).toBe('')
    type Violation = { from: string; rule: { name: string } }
    const { summary } = JSON.parse(run.stdout) as { summary: { violations: Violation[] } }
    violations = new Map()
    for (const { from, rule } of summary.violations) violations.set(from, [...(violations.get(from) ?? []), rule.name])
  })

  it.each(BREAKS)('$file breaks $rule', ({ file, rule }) => {
    expect(violations.get(file)).toContain(rule)
  })

  it('let a file that keeps them pass', () => {
    expect(violations.get(CLEAN.file)).toBeUndefined()
  })
})

describe("biome's overrides", () => {
  it.each(['packages/domain', 'packages/application'])('keep process.env out of %s', (pkg) => {
    write(`${pkg}/src/reads-the-environment.ts`, 'export const url = process.env.DATABASE_URL\n')

    const run = biomeLint(`${pkg}/src/reads-the-environment.ts`)

    expect(run.status).not.toBe(0)
    expect(run.stdout + run.stderr).toContain('lint/style/noProcessEnv')
  })

  it('let an app read it', () => {
    const run = biomeLint(CLEAN.file)
    expect(run.status, run.stdout + run.stderr).toBe(0)
  })
})

function write(file: string, source: string): void {
  mkdirSync(dirname(join(copy, file)), { recursive: true })
  writeFileSync(join(copy, file), source)
}

function biomeLint(file: string) {
  return spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['lint', file], { cwd: copy, encoding: 'utf8' })
}
