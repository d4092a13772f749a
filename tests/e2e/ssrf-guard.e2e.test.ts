import { beforeAll, describe, expect, it } from 'vitest'
import type { AppProcess } from '../support/app-process.js'
import { useE2e } from '../support/e2e.js'
import type { TaskApi } from '../support/task-api.js'

// Both apps with the SSRF guard as production runs it (on, nothing allow-listed). A literal internal address is
// refused at submission; a name the server cannot judge is refused by the tasker on the address it resolves to.
const e2e = useE2e('ssrf-guard')
let api: TaskApi
let tasker: AppProcess

beforeAll(async () => {
  const server = await e2e.startServer({ TARGET_ALLOWLIST: '' })
  tasker = await e2e.startTasker({ TARGET_ALLOWLIST: '' })
  api = e2e.api(server)
})

describe('with the SSRF guard on', () => {
  it('refuses the cloud metadata address at submission, naming url, and stores nothing', async () => {
    const submitted = await api.submit({ method: 'GET', url: 'http://169.254.169.254/latest/meta-data/' })

    expect(submitted).toEqual({
      status: 400,
      id: null,
      location: null,
      body: {
        type: '/problems/invalid-request',
        title: 'Invalid request',
        status: 400,
        detail: 'The request is invalid',
        errors: [
          {
            path: 'url',
            message: 'address 169.254.169.254 is in the linkLocal range, which is not allowed as a target',
          },
        ],
      },
    })
    expect(await e2e.statusCounts()).toEqual({})
  })

  it('accepts a name that resolves to loopback, then ends it in error, code blocked, without sending', async () => {
    const target = await e2e.startTarget()
    const url = target.url.replace('127.0.0.1', 'localhost')

    const { status, id } = await api.submit({ method: 'GET', url: `${url}/internal` })
    expect(status).toBe(201)
    const task = await api.waitUntilFinished(id!)

    expect(task).toMatchObject({
      status: 'error',
      attemptCount: 1,
      error: { code: 'blocked', message: 'localhost resolves to an address that is not allowed as a target' },
    })
    expect(JSON.stringify(task)).not.toMatch(/127\.0\.0\.1|::1|loopback/)
    expect(target.requests).toEqual([])
    // The detail stays in the tasker's log, for whoever runs it.
    await tasker.waitForLog((l) => l.msg === 'target address refused' && l.host === 'localhost', 10_000)
  })
})
