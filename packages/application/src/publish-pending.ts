import type { Outbox, QueuePublisher } from './ports/outbox.js'

/** Returns how many entries went out; a full batch tells the caller more are waiting. */
export type PublishPending = (limit: number) => Promise<number>

export function makePublishPending(deps: { outbox: Outbox; publisher: QueuePublisher }): PublishPending {
  return (limit) => deps.outbox.drain(limit, (entries) => deps.publisher.publish(entries))
}
