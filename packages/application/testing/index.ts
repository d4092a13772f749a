export * from './fakes.js'
export * from './in-memory-store.js'
export * from './task-queries.contract.js'
export * from './task-repository.contract.js'
