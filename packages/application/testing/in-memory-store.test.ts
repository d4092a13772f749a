import { InMemoryStore } from './in-memory-store.js'
import { describeTaskStoreContract } from './task-repository.contract.js'

describeTaskStoreContract('InMemoryStore', async (clock) => {
  const store = new InMemoryStore(clock)
  return { tasks: store, outbox: store, flowControls: store }
})
