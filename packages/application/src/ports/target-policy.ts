import type { FieldIssue } from '@request-tasker/domain'

/**
 * Which targets a deployment lets tasks reach. At submission only what the URL itself says can be judged (a
 * literal address, say); a host name is judged again on the address it resolves to when the tasker connects.
 */
export interface TargetPolicy {
  /** Issues naming `url` when the (already validated, normalised) URL points somewhere refused; none otherwise. */
  check(url: string): FieldIssue[]
}
