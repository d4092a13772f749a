import { createHash } from 'node:crypto'
import { DEFAULT_HEADER_LIMITS, MAX_ATTEMPTS_LIMIT, MAX_BACKOFF_MS, MAX_TIMEOUT_MS } from '@request-tasker/domain'
import { intSetting as int, parseEnv, sharedEnv } from '@request-tasker/infrastructure'
import { z } from 'zod'
import { DEFAULT_TIMEOUTS } from './server-timeouts.js'

/** A configured API key; `id` is what tasks store as their owner, so the key itself is never persisted. */
export type ApiKey = { readonly id: string; readonly key: string }

const DAY_MS = 24 * 60 * 60 * 1000

// The server never talks to Kafka (submissions go through the outbox), so it does not ask for its settings.
export const serverEnv = sharedEnv
  .omit({ KAFKA_BROKERS: true, KAFKA_CLIENT_ID: true, KAFKA_TOPIC_TASKS: true, KAFKA_TOPIC_DEAD_LETTERS: true })
  .extend({
    PORT: int(0, 65_535, 8080),
    HOST: z.string().min(1).default('0.0.0.0'),
    API_KEYS: z.string().transform(parseApiKeys),
    BODY_LIMIT_BYTES: int(1, 64 * 1024 * 1024, 1024 * 1024),
    // Request body bytes held at once; past it a request gets 503 before its body is read. Each byte is held
    // several times over on its way to Postgres, so this bounds the server's memory under large submissions.
    MAX_INFLIGHT_REQUEST_BYTES: int(1024 * 1024, 1024 * 1024 * 1024, 32 * 1024 * 1024),
    // A client gets this long for its whole request, and for its headers, then 408 and the socket is closed; an
    // idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS, any silent socket after
    // CONNECTION_TIMEOUT_MS. None may be 0 (unlimited): a stalled client would hold its socket for good.
    REQUEST_TIMEOUT_MS: int(1_000, 600_000, DEFAULT_TIMEOUTS.requestTimeoutMs),
    HEADERS_TIMEOUT_MS: int(1_000, 600_000, DEFAULT_TIMEOUTS.headersTimeoutMs),
    KEEP_ALIVE_TIMEOUT_MS: int(1, 600_000, DEFAULT_TIMEOUTS.keepAliveTimeoutMs),
    CONNECTION_TIMEOUT_MS: int(1_000, 3_600_000, DEFAULT_TIMEOUTS.connectionTimeoutMs),
    DEFAULT_TIMEOUT_MS: int(1, MAX_TIMEOUT_MS, 10_000),
    // A task's headers: lines (each value of a repeated name counts) and bytes of names and values.
    TASK_HEADERS_MAX_COUNT: int(1, 1_000, DEFAULT_HEADER_LIMITS.maxCount),
    TASK_HEADERS_MAX_BYTES: int(1, 1024 * 1024, DEFAULT_HEADER_LIMITS.maxBytes),
    // A request waits this long for a pool connection, then answers 503 instead of queueing on.
    DATABASE_ACQUIRE_TIMEOUT_MS: int(1, 60_000, 2_000),
    // Load shedding: new requests get 503 while more checkouts than this wait for a connection,
    SHED_POOL_WAITING: int(1, 100_000, 100),
    // or while the event loop's mean delay over the last second exceeds this (0 turns that check off).
    SHED_EVENT_LOOP_DELAY_MS: int(0, 60_000, 1_000),
    // Submissions one API key may make per window (429 with Retry-After past it), counted by each server process:
    // one key cannot fill the database and the tasker's queue for the others. 10,000 per 10 s leaves a key
    // bursts of thousands and any other key room; a deployment that needs more raises it.
    SUBMISSIONS_PER_KEY_MAX: int(1, 10_000_000, 10_000),
    SUBMISSIONS_PER_KEY_WINDOW_MS: int(1_000, 3_600_000, 10_000),
    // One readiness check answers every probe for this long; concurrent probes share the check in flight.
    READINESS_CACHE_MS: int(0, 60_000, 1_000),
    // A task's retry policy when its submission gives none; a task's own smaller maxMs also caps this base.
    RETRY_MAX_ATTEMPTS: int(1, MAX_ATTEMPTS_LIMIT, 5),
    RETRY_BASE_MS: int(1, MAX_BACKOFF_MS, 1000),
    RETRY_MAX_MS: int(1, MAX_BACKOFF_MS, 600_000),
    // Largest body of POST /tasks/batch (up to 1,000 tasks); at most MAX_INFLIGHT_REQUEST_BYTES, which bounds it.
    BATCH_BODY_LIMIT_BYTES: int(1024 * 1024, 1024 * 1024 * 1024, 16 * 1024 * 1024),
    // Prometheus text at /metrics, on a listener of its own: the API's port may face the internet, metrics should not.
    METRICS_PORT: int(0, 65_535, 9464),
    METRICS_HOST: z.string().min(1).default('0.0.0.0'),
    // How long an Idempotency-Key names its first submission; after it, the key may name a new one. At most 30
    // days: the window is subtracted from now as a Date, which past about 270,000 years is invalid.
    IDEMPOTENCY_WINDOW_MS: int(1, 30 * DAY_MS, DAY_MS),
    // API key ids (as in API_KEYS) whose tasks are signed unless a submission says `sign: false`; `*` for all.
    SIGNED_API_KEYS: z
      .string()
      .default('')
      .transform(
        (raw) =>
          new Set(
            raw
              .split(',')
              .map((id) => id.trim())
              .filter(Boolean),
          ),
      ),
  })
  .refine((env) => env.BODY_LIMIT_BYTES <= env.MAX_INFLIGHT_REQUEST_BYTES, {
    path: ['MAX_INFLIGHT_REQUEST_BYTES'],
    message: 'must be at least BODY_LIMIT_BYTES, or the largest request could never be taken',
  })
  .refine((env) => env.BATCH_BODY_LIMIT_BYTES <= env.MAX_INFLIGHT_REQUEST_BYTES, {
    path: ['BATCH_BODY_LIMIT_BYTES'],
    message: 'must not exceed MAX_INFLIGHT_REQUEST_BYTES, or the largest batch could never be taken',
  })
  .refine((env) => env.HEADERS_TIMEOUT_MS <= env.REQUEST_TIMEOUT_MS, {
    path: ['HEADERS_TIMEOUT_MS'],
    message: 'must not exceed REQUEST_TIMEOUT_MS',
  })
  .refine((env) => env.RETRY_BASE_MS <= env.RETRY_MAX_MS, {
    path: ['RETRY_BASE_MS'],
    message: 'must not exceed RETRY_MAX_MS',
  })

export type ServerConfig = z.output<typeof serverEnv>

export function loadConfig(env: NodeJS.ProcessEnv): ServerConfig {
  return parseEnv(serverEnv, env)
}

/**
 * `id:key` entries, or a bare `key` whose id is derived from it. One id may name several keys, so a key can be
 * rotated without orphaning its tasks; the same key twice would make ownership ambiguous and is refused.
 * Messages never quote a key: they end up in start-up logs.
 */
function parseApiKeys(raw: string, ctx: z.RefinementCtx<string>): ApiKey[] {
  const keys: ApiKey[] = []
  for (const [i, entry] of raw.split(',').entries()) {
    const trimmed = entry.trim()
    const colon = trimmed.indexOf(':')
    const key = colon === -1 ? trimmed : trimmed.slice(colon + 1).trim()
    const id = colon === -1 ? keyIdOf(key) : trimmed.slice(0, colon).trim()
    if (key === '' || id === '') {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} needs a key, as "id:key" or "key"` })
    } else if (keys.some((k) => k.key === key)) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} repeats an earlier key` })
    } else {
      keys.push({ id, key })
    }
  }
  return keys
}

/** The id of a key configured without one: stable across restarts, and the key cannot be read back from it. */
function keyIdOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16)
}
