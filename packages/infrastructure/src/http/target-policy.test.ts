import { describe, expect, it } from 'vitest'
import { EMPTY_ALLOWLIST, parseTargetAllowlist, targetPolicy } from './target-policy.js'

const guarded = targetPolicy({ guard: true, allowlist: EMPTY_ALLOWLIST })

describe('the URL parser the policy relies on', () => {
  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[0:0:0:0:0:0:0:1]/', '[::1]'],
  ])('writes %s with host %s', (url, hostname) => {
    expect(new URL(url).hostname).toBe(hostname)
  })
})

describe('targetPolicy at submission', () => {
  it.each([
    ['http://127.0.0.1/', '127.0.0.1', 'loopback'],
    ['http://2130706433/', '127.0.0.1', 'loopback'],
    ['http://[::1]/', '::1', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1', 'loopback'],
    ['http://[64:ff9b::a00:1]/', '64:ff9b::a00:1', 'private'],
    ['http://[2002:c0a8:101::]/', '2002:c0a8:101::', 'private'],
    ['http://[::7f00:1]/', '::7f00:1', 'loopback'],
    ['http://10.1.2.3/', '10.1.2.3', 'private'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'linkLocal'],
    ['http://100.64.0.1/', '100.64.0.1', 'carrierGradeNat'],
    ['http://0.0.0.0/', '0.0.0.0', 'unspecified'],
    ['http://255.255.255.255/', '255.255.255.255', 'broadcast'],
    ['http://224.0.0.1/', '224.0.0.1', 'multicast'],
    ['http://192.0.2.1/', '192.0.2.1', 'reserved'],
    ['http://[fd12::1]/', 'fd12::1', 'uniqueLocal'],
    ['http://[fe80::1]/', 'fe80::1', 'linkLocal'],
    ['http://[2001::1]/', '2001::1', 'teredo'],
  ])('refuses %s, naming the range', (url, address, range) => {
    expect(guarded.check(url)).toEqual([
      { path: 'url', message: `address ${address} is in the ${range} range, which is not allowed as a target` },
    ])
  })

  it.each([
    'https://93.184.215.14/',
    'http://[2606:4700::1111]/',
    'http://[::ffff:8.8.8.8]/',
    'http://[64:ff9b::808:808]/',
    'https://localhost/', // a name: judged on its resolved address when the tasker connects
    'https://api.example.com/',
  ])('lets %s through', (url) => {
    expect(guarded.check(url)).toEqual([])
  })

  it('lets allow-listed ranges and addresses through, and everything when the guard is off', () => {
    const allowing = targetPolicy({ guard: true, allowlist: parseTargetAllowlist('127.0.0.0/8, fd00::/8, 10.0.0.7') })
    expect(allowing.check('http://127.0.0.1:8080/')).toEqual([])
    expect(allowing.check('http://[::ffff:127.0.0.1]/')).toEqual([])
    expect(allowing.check('http://[fd00::5]/')).toEqual([])
    expect(allowing.check('http://10.0.0.7/')).toEqual([])
    expect(allowing.check('http://10.0.0.8/')).toHaveLength(1)
    expect(targetPolicy({ guard: false, allowlist: EMPTY_ALLOWLIST }).check('http://169.254.169.254/')).toEqual([])
  })
})

describe('targetPolicy at connect time', () => {
  it('judges resolved addresses and trusts allow-listed names whatever they resolve to', () => {
    const policy = targetPolicy({ guard: true, allowlist: parseTargetAllowlist('Billing.Internal') })
    expect(guarded.refusalOf('127.0.0.1')).toBe('loopback')
    expect(guarded.refusalOf('::ffff:169.254.169.254')).toBe('linkLocal')
    expect(guarded.refusalOf('8.8.8.8')).toBeNull()
    expect(policy.allowsHost('billing.internal.')).toBe(true)
    expect(policy.allowsHost('localhost')).toBe(false)
  })
})

describe('parseTargetAllowlist', () => {
  it('sorts names from ranges, a bare address counting as a range of one', () => {
    const list = parseTargetAllowlist(' svc.internal ,10.0.0.0/8,,[::1], 192.168.0.5')
    expect(list.hosts).toEqual(['svc.internal'])
    expect(list.ranges.map(([net, bits]) => `${net.toString()}/${bits}`)).toEqual([
      '10.0.0.0/8',
      '::1/128',
      '192.168.0.5/32',
    ])
  })

  it.each(['10.0.0.0/33', 'not a host', 'http://x.test'])('refuses %s, quoting it', (entry) => {
    expect(() => parseTargetAllowlist(entry)).toThrow(entry)
  })
})
