import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { isSealed, keyIdOf, parseSecretKeys, secretBox } from './secret-box.js'

const key = (id: string) => ({ id, key: randomBytes(32) })

describe('secretBox', () => {
  it('seals a value so that it reads nowhere in the stored form, and opens it again', () => {
    const box = secretBox([key('k1')])
    const sealed = box.seal('Bearer sk_live_123456')

    expect(isSealed(sealed)).toBe(true)
    expect(keyIdOf(sealed)).toBe('k1')
    expect(sealed).not.toContain('sk_live_123456')
    expect(box.open(sealed)).toBe('Bearer sk_live_123456')
    // A fresh IV each time: equal secrets do not show as equal at rest.
    expect(box.seal('Bearer sk_live_123456')).not.toBe(sealed)
  })

  it('seals with the first key and opens with any listed one, so keys rotate', () => {
    const [old, current] = [key('old'), key('new')]
    const sealedBefore = secretBox([old]).seal('s3cret')
    const rotated = secretBox([current, old])

    expect(rotated.open(sealedBefore)).toBe('s3cret')
    expect(keyIdOf(rotated.seal('s3cret'))).toBe('new')
    expect(() => secretBox([current]).open(sealedBefore)).toThrow('key "old", which SECRETS_KEYS does not list')
  })

  it('refuses a sealed value whose bytes were changed', () => {
    const box = secretBox([key('k1')])
    const sealed = box.seal('s3cret')
    const tampered = `${sealed.slice(0, -4)}${sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
    expect(() => box.open(tampered)).toThrow()
  })

  it('cannot seal without a key', () => {
    expect(() => secretBox([]).seal('x')).toThrow('set SECRETS_KEYS')
  })
})

describe('parseSecretKeys', () => {
  it('reads id:base64 entries, the first one current', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)]
    expect(parseSecretKeys(` k2:${a.toString('base64')}, k1:${b.toString('base64')} `)).toEqual([
      { id: 'k2', key: a },
      { id: 'k1', key: b },
    ])
    expect(parseSecretKeys('')).toEqual([])
  })

  it('names the bad entry and never echoes a key', () => {
    const short = randomBytes(16).toString('base64')
    expect(() => parseSecretKeys(`k1:${short}`)).toThrow('key k1 must be 32 bytes')
    expect(() => parseSecretKeys(`k1:${short}`)).not.toThrow(short)
    expect(() => parseSecretKeys(randomBytes(32).toString('base64'))).toThrow('entry 1 must be id:key')
    const k = randomBytes(32).toString('base64')
    expect(() => parseSecretKeys(`k1:${k},k1:${k}`)).toThrow('key id k1 is listed twice')
  })
})
