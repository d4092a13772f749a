export * from './test-database.js'
export * from './test-kafka.js'
