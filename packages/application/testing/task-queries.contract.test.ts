import { InMemoryStore } from './in-memory-store.js'
import { describeTaskQueriesContract } from './task-queries.contract.js'

describeTaskQueriesContract('InMemoryStore', async (clock) => {
  const store = new InMemoryStore(clock)
  return { tasks: store, outbox: store, list: store, bulk: store, batches: store, keys: store, views: store }
})
