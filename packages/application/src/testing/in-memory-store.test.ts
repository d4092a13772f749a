import { InMemoryStore } from './in-memory-store.js'
import { describeTaskStoreContract } from './task-repository.contract.js'

describeTaskStoreContract('InMemoryStore', async () => {
  const store = new InMemoryStore()
  return { tasks: store, outbox: store }
})
