export * from './fakes.js'
export * from './in-memory-store.js'
