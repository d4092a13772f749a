import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MINIMUM_NODE_MAJOR, nodeVersionProblem } from './node-version.js'

const root = new URL('../../../', import.meta.url)

describe('nodeVersionProblem', () => {
  it('refuses a Node.js older than the minimum, naming it and what to run instead', () => {
    const problem = nodeVersionProblem('v20.20.2', '/usr/bin/node')
    expect(problem).toContain('needs Node.js 24 or later; this is Node.js v20.20.2 (/usr/bin/node)')
    expect(problem).toContain('./scripts/task up')
    expect(problem).toContain('. scripts/bootstrap.sh')
  })

  it('accepts the minimum major and later ones', () => {
    expect(nodeVersionProblem('v24.0.0', '/x/node')).toBeNull()
    expect(nodeVersionProblem('v24.21.0', '/x/node')).toBeNull()
    expect(nodeVersionProblem('v26.1.0', '/x/node')).toBeNull()
  })

  it('refuses a version it cannot read rather than guessing', () => {
    expect(nodeVersionProblem('unknown', '/x/node')).not.toBeNull()
  })

  it('agrees with .nvmrc and the engines of the root package.json', () => {
    const nvmrc = readFileSync(new URL('.nvmrc', root), 'utf8').trim()
    const { engines } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
    expect(nvmrc).toBe(String(MINIMUM_NODE_MAJOR))
    expect(engines.node).toMatch(new RegExp(`^>=${MINIMUM_NODE_MAJOR}(\\s|$)`))
  })
})
