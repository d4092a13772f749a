import { describe, expect, it } from 'vitest'
import {
  anyTarget,
  InMemoryStore,
  manualClock,
  okResponse,
  retryDefaults,
  roomyFlow,
  ScriptedSender,
  sequentialIds,
} from '../testing/index.js'
import { makeTaskExecutor } from './execute-tasks.js'
import type { RequestSigner } from './ports/signing.js'
import { SendCapacity } from './send-capacity.js'
import { makeSubmitTask } from './submit-task.js'

/** Signs by adding one header naming the key and the message: enough to see what was signed and when. */
const fakeSigner = (owners: string[]): RequestSigner => ({
  async sign(ownerKeyId, messageId, request) {
    if (!owners.includes(ownerKeyId)) return null
    return { ...request, headers: [...request.headers, ['webhook-id', messageId]] }
  },
})

function setup(signer: RequestSigner) {
  const clock = manualClock()
  const store = new InMemoryStore(clock.now)
  const sender = new ScriptedSender(() => okResponse(200, 'fine'))
  const signing = { byDefault: () => false, secrets: { hasActive: async () => true } }
  const submit = makeSubmitTask({
    tasks: store,
    targets: anyTarget,
    newId: sequentialIds(),
    now: clock.now,
    defaultTimeoutMs: 1000,
    defaultRetry: retryDefaults,
    signing,
    wakeRelay: () => {},
  })
  const executor = makeTaskExecutor({
    tasks: store,
    sender,
    signer,
    capacity: new SendCapacity({ slots: 10, slotsPerKey: 10, unstored: 10, unstoredBytes: 1 << 20 }),
    now: clock.now,
    random: () => 0.5,
    leaseGraceMs: 500,
    keyBusyWaitMs: 60_000,
    flow: roomyFlow,
    isUnavailable: () => false,
    warn: () => {},
  })
  const execute = async (ids: string[]) => Promise.all(await executor.execute(ids as never))
  return { store, sender, submit, execute }
}

describe('taskExecutor with signing and callbacks', () => {
  it('signs a task that asks for it, with the task id as the message id, and leaves others unsigned', async () => {
    const { sender, submit, execute } = setup(fakeSigner(['k']))
    const signed = await submit({ ownerKeyId: 'k', request: { method: 'GET', url: 'https://x.test/s' }, sign: true })
    const plain = await submit({ ownerKeyId: 'k', request: { method: 'GET', url: 'https://x.test/p' } })
    await execute([signed, plain])

    // The signed one waits for its signature, so the two may go out in either order.
    expect(new Map(sender.sent.map((r) => [r.url, r.headers]))).toEqual(
      new Map<string, unknown>([
        ['https://x.test/s', [['webhook-id', signed]]],
        ['https://x.test/p', []],
      ]),
    )
  })

  it('sends nothing and ends the task unsigned when its key has no secret left', async () => {
    const { store, sender, submit, execute } = setup(fakeSigner([]))
    const id = await submit({ ownerKeyId: 'k', request: { method: 'GET', url: 'https://x.test/s' }, sign: true })
    await execute([id])

    expect(sender.sent).toEqual([])
    const view = await store.findOwned(id, 'k')
    expect(view?.task.status).toBe('error')
    expect(view?.lastAttempt?.outcome).toMatchObject({ kind: 'failure', error: { code: 'unsigned' } })
  })

  it('hands the store the end of a task with a callback, which then sends it signed as a task of its own', async () => {
    const { store, sender, submit, execute } = setup(fakeSigner(['k']))
    const id = await submit({
      ownerKeyId: 'k',
      request: { method: 'GET', url: 'https://x.test/t' },
      callback: { url: 'https://hooks.test/cb' },
    })
    await execute([id])
    const child = [...store.rows.values()].find((r) => r.task.parentId === id)!.task
    await execute([child.id])

    const [, callback] = sender.sent
    expect(callback?.url).toBe('https://hooks.test/cb')
    expect(callback?.headers).toContainEqual(['webhook-id', child.id])
    expect(JSON.parse(new TextDecoder().decode(callback!.body!))).toMatchObject({
      type: 'task.finished',
      taskId: id,
      status: 'done',
      attemptCount: 1,
      lastAttempt: { n: 1, httpStatusCode: 200, body: 'fine', bodyEncoding: 'utf8' },
    })
    expect((await store.findOwned(id, 'k'))?.callback).toEqual({ id: child.id, status: 'done', attempts: 1 })
  })
})
