import { createHmac, randomBytes } from 'node:crypto'
import type { OutboundRequest } from '@request-tasker/domain'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { standardWebhookSigner } from './standard-webhooks.js'

const secretA = `whsec_${randomBytes(32).toString('base64')}`
const secretB = `whsec_${randomBytes(32).toString('base64')}`
const now = new Date()

// The standardwebhooks package reads a payload as UTF-8 text (and returns it parsed as JSON), so it verifies JSON.
const body = new TextEncoder().encode(JSON.stringify({ event: 'paid', name: 'Zoë', amount: 12.5 }))
const request: OutboundRequest = {
  method: 'POST',
  url: 'https://hooks.test/in',
  headers: [
    ['content-type', 'application/json'],
    ['Webhook-Id', 'forged-by-the-client'],
  ],
  body,
  timeoutMs: 1_000,
}

const headersOf = (signed: OutboundRequest) => Object.fromEntries(signed.headers.map(([n, v]) => [n.toLowerCase(), v]))

describe('standardWebhookSigner', () => {
  it('signs the exact body bytes so that the standardwebhooks package verifies them with either active secret', async () => {
    const signer = standardWebhookSigner(async () => [secretA, secretB], { now: () => now })
    const signed = await signer.sign('key-1', 'msg_1', request)
    if (!signed) throw new Error('not signed')
    const headers = headersOf(signed)

    expect(headers['webhook-id']).toBe('msg_1')
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)))
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2)
    expect(signed.headers.filter(([n]) => n.toLowerCase() === 'webhook-id')).toHaveLength(1) // the client's is gone
    for (const secret of [secretA, secretB]) {
      expect(() => new Webhook(secret).verify(Buffer.from(body), headers)).not.toThrow()
    }
    const other = `whsec_${randomBytes(32).toString('base64')}`
    expect(() => new Webhook(other).verify(Buffer.from(body), headers)).toThrow()
    const changed = Buffer.from(body)
    changed[0] = 1
    expect(() => new Webhook(secretA).verify(changed, headers)).toThrow()
  })

  it('signs a binary body byte for byte, as the scheme computes it by hand', async () => {
    // Every byte value, invalid UTF-8 included: the signature covers the bytes sent, not a text form of them.
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i)
    const signer = standardWebhookSigner(async () => [secretA], { now: () => now })
    const signed = await signer.sign('key-1', 'msg_2', { ...request, body: binary })
    const headers = headersOf(signed!)
    const key = Buffer.from(secretA.slice('whsec_'.length), 'base64')
    const expected = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`msg_2.${headers['webhook-timestamp']}.`), binary]))
      .digest('base64')
    expect(headers['webhook-signature']).toBe(`v1,${expected}`)
  })

  it('signs nothing when the key has no secret, and reads a key’s secrets once per second', async () => {
    let reads = 0
    const signer = standardWebhookSigner(
      async () => {
        reads++
        return []
      },
      { now: () => now },
    )
    expect(await signer.sign('key-1', 'msg_1', request)).toBeNull()
    expect(await signer.sign('key-1', 'msg_2', request)).toBeNull()
    expect(reads).toBe(1)
  })
})
