import { Kafka, type LogEntry, logLevel, Partitioners, type Producer } from 'kafkajs'
import type { Logger } from '../logger.js'

/** acks=all: a send resolves only once every in-sync replica has the records. */
export const ACKS_ALL = -1

export function createKafka({ brokers, clientId, log }: { brokers: string[]; clientId: string; log: Logger }): Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' })
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3_000,
    // ~1 min of exponential backoff (0.3 s doubling, capped at 30 s) rides out a broker restart or a leader
    // election; past that, the caller's error handling (or the consumer's restart) takes over.
    retry: { initialRetryTime: 300, maxRetryTime: 30_000, retries: 8 },
    logLevel: kafkaLevelFor(kafkaLog.level),
    logCreator: () => (entry) => writeEntry(kafkaLog, entry),
  })
}

/**
 * Idempotent, so a retried send cannot duplicate or reorder records within a partition; kafkajs supports that
 * only with one request in flight per broker, and refuses any send without acks=all.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    // Unbounded, as kafkajs wants for an idempotent producer: giving up mid-sequence could leave its sequence
    // numbers out of step with the broker's. A send waits out a broker outage; the outbox rows stay put meanwhile.
    retry: { retries: Number.MAX_SAFE_INTEGER },
    allowAutoTopicCreation: false,
    // murmur2 on the key, as the Java client does: a task id lands on the same partition whoever produces it.
    createPartitioner: Partitioners.DefaultPartitioner,
  })
}

// kafkajs filters by its own level before building an entry, so keep it no chattier than the pino logger.
function kafkaLevelFor(level: string): logLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG
    case 'info':
      return logLevel.INFO
    case 'warn':
      return logLevel.WARN
    case 'silent':
      return logLevel.NOTHING
    default:
      return logLevel.ERROR
  }
}

function writeEntry(log: Logger, { namespace, level, log: content }: LogEntry): void {
  const { message, timestamp: _timestamp, logger: _logger, error, ...fields } = content
  // pino serializes an Error only under `err`; kafkajs passes either an Error or its message as `error`.
  const line = { namespace, ...fields, ...(error instanceof Error ? { err: error } : error ? { error } : {}) }
  if (level === logLevel.ERROR) log.error(line, message)
  else if (level === logLevel.WARN) log.warn(line, message)
  else if (level === logLevel.INFO) log.info(line, message)
  else log.debug(line, message)
}
