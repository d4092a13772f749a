import type { TargetPolicy } from '@request-tasker/application'
import type { FieldIssue } from '@request-tasker/domain'
import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6

/** What a deployment may reach besides public unicast addresses: host names taken on trust, and CIDR ranges. */
export type TargetAllowlist = {
  readonly hosts: readonly string[]
  readonly ranges: readonly (readonly [Address, number])[]
}

export type TargetPolicyOptions = {
  /** Off: every target is allowed (a deployment that trusts its callers and its network). */
  guard: boolean
  allowlist: TargetAllowlist
}

/** The submission check and the connect-time check, from one set of rules. */
export type AddressPolicy = TargetPolicy & {
  /** A host on the allow-list is reached whatever it resolves to. */
  allowsHost(hostname: string): boolean
  /** Why `address` may not be reached (its range's name), or null when it may. */
  refusalOf(address: string): string | null
}

export const EMPTY_ALLOWLIST: TargetAllowlist = { hosts: [], ranges: [] }

/**
 * Refuses every address that is not public unicast: loopback, RFC 1918, link-local (cloud metadata at
 * 169.254.169.254), CGNAT, ULA, multicast, unspecified, broadcast, reserved, … An address embedding an IPv4
 * one (::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the IPv4 address it reaches.
 */
export function targetPolicy({ guard, allowlist }: TargetPolicyOptions): AddressPolicy {
  const hosts = new Set(allowlist.hosts.map(normaliseHost))

  function refusalOf(address: string): string | null {
    if (!guard) return null
    if (!ipaddr.isValid(address)) return 'unparsable'
    const parsed = ipaddr.parse(address)
    const effective = embeddedIpv4(parsed) ?? parsed
    // An allow-listed range admits an address written either way (127.0.0.1 or ::ffff:127.0.0.1).
    const allowed = (a: Address) =>
      allowlist.ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits))
    if (allowed(parsed) || allowed(effective)) return null
    const range = effective.range()
    return range === 'unicast' ? null : range
  }

  function allowsHost(hostname: string): boolean {
    return !guard || hosts.has(normaliseHost(hostname))
  }

  function check(url: string): FieldIssue[] {
    const hostname = unbracket(new URL(url).hostname)
    // WHATWG URL parsing already rewrote 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 as 127.0.0.1.
    if (!isLiteral(hostname) || allowsHost(hostname)) return []
    const range = refusalOf(hostname)
    if (range === null) return []
    return [{ path: 'url', message: `address ${hostname} is in the ${range} range, which is not allowed as a target` }]
  }

  return { check, allowsHost, refusalOf }
}

/** Parses `TARGET_ALLOWLIST`: comma-separated host names, addresses and CIDR ranges. Throws naming a bad entry. */
export function parseTargetAllowlist(raw: string): TargetAllowlist {
  const hosts: string[] = []
  const ranges: Array<readonly [Address, number]> = []
  for (const entry of raw.split(',').map((e) => e.trim())) {
    if (entry === '') continue
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`"${entry}" is not a CIDR range`)
      ranges.push(ipaddr.parseCIDR(entry))
    } else if (isLiteral(unbracket(entry))) {
      const address = ipaddr.parse(unbracket(entry))
      ranges.push([address, address.kind() === 'ipv4' ? 32 : 128])
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(entry)) {
      hosts.push(entry)
    } else {
      throw new Error(`"${entry}" is neither a host name nor a CIDR range`)
    }
  }
  return { hosts, ranges }
}

// ::ffff:0:0/96 (mapped), 64:ff9b::/96 (NAT64) and ::/96 (the deprecated "compatible" form) carry the IPv4
// address in their last 32 bits; 6to4 carries it in bits 16–47.
function embeddedIpv4(address: Address): ipaddr.IPv4 | null {
  if (address.kind() !== 'ipv6') return null
  const v6 = address as ipaddr.IPv6
  const p = v6.parts
  const last32 = () => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff])
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address()
  if (v6.match(ipaddr.IPv6.parse('64:ff9b::'), 96)) return last32()
  if (v6.match(ipaddr.IPv6.parse('::'), 96) && !['unspecified', 'loopback'].includes(v6.range())) return last32()
  if (v6.match(ipaddr.IPv6.parse('2002::'), 16)) {
    return new ipaddr.IPv4([p[1]! >> 8, p[1]! & 0xff, p[2]! >> 8, p[2]! & 0xff])
  }
  return null
}

function isLiteral(host: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host)
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '')
}
