import type { Readiness } from '@request-tasker/infrastructure'

/** Thrown by the readiness route so the one problem mapper answers 503 naming the failed checks. */
export class NotReady extends Error {
  constructor(readonly readiness: Extract<Readiness, { status: 'failing' }>) {
    super('not ready')
    this.name = 'NotReady'
  }
}
