import { type LookupAddress, type LookupAllOptions, lookup } from 'node:dns'
import { isIP, type LookupFunction } from 'node:net'
import { buildConnector } from 'undici'
import type { AddressPolicy } from './target-policy.js'

/**
 * Raised when a target's address is refused; the sender records it as `blocked`. The message is for the task's
 * owner: it names only what they gave (the host, or the literal address they typed), never the address a name
 * resolved to, which would map our internal DNS for them. `host`, `address` and `range` are for our log.
 */
export class TargetBlocked extends Error {
  readonly code = 'ERR_TARGET_BLOCKED'
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(
      host === address
        ? `address ${address} is in the ${range} range, which is not allowed as a target`
        : `${host} resolves to an address that is not allowed as a target`,
    )
    this.name = 'TargetBlocked'
  }
}

/**
 * An undici connector that judges the address it actually connects to, after DNS, so a name that resolves to a
 * public address one time and to 127.0.0.1 the next (DNS rebinding) is refused on the address used. Literal
 * addresses skip the lookup in `net.connect`, so they are judged before it.
 */
export function guardedConnector(policy: AddressPolicy, connectTimeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup: guardedLookup(policy) })
  return function connectGuarded(options, callback) {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1')
    if (isIP(host) !== 0 && !policy.allowsHost(host)) {
      const range = policy.refusalOf(host)
      if (range !== null) return callback(new TargetBlocked(host, host, range), null)
    }
    return connect(options, callback)
  }
}

// Every address of the name must pass, not only the one picked: the socket may fall back to another
// (happy eyeballs), and a name mixing public and private addresses is not one to trust.
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      if (!policy.allowsHost(hostname)) {
        for (const { address } of addresses) {
          const range = policy.refusalOf(address)
          if (range !== null) return callback(new TargetBlocked(hostname, address, range), '', 0)
        }
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
      const [first] = addresses
      return callback(null, first!.address, first!.family)
    })
  }
}
