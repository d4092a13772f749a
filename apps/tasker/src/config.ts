import { intSetting as int, parseEnv, sharedEnv } from '@request-tasker/infrastructure'
import { z } from 'zod'

// Each range keeps a value within what the code can hold (a Postgres integer, a timer) and what makes sense.
export const taskerEnv = sharedEnv.extend({
  KAFKA_GROUP_ID: z.string().min(1).default('request-tasker'),
  // A crashed tasker's group stalls this long before its partitions move, even when the tasker is restarted at once:
  // the bench's S8 measured the pause at the session plus 0.1–0.5 s (30 s → 29.8 s, 10 s → 10.0 s, 6 s → 6.4 s).
  // The broker refuses less than its group.min.session.timeout.ms, 6 s by default. A live member heartbeats every
  // 3 s from its fetch loop, which never waits for sends (see TASK_CONSUMER_TIMEOUTS): only a loop stalled ~3 s
  // loses its partitions, and then rejoins; the claim guard keeps their redelivered tasks from being sent twice.
  KAFKA_SESSION_TIMEOUT_MS: int(1, 300_000, 6_000),
  KAFKA_PARTITIONS: int(1, 1_000, 12),
  KAFKA_REPLICATION_FACTOR: int(1, 16, 1),
  // Sends in flight across all partitions: a slow third party holds its slots, never the whole tasker.
  SEND_CONCURRENCY: int(1, 10_000, 200),
  // One API key's share of the send slots: a key whose targets never answer cannot starve the others. Its tasks past
  // the share wait as key-busy (no attempt spent) and are woken as its slots free, or after KEY_BUSY_WAIT_MS.
  SEND_SLOTS_PER_KEY: int(1, 10_000, 100),
  KEY_BUSY_WAIT_MS: int(100, 3_600_000, 30_000),
  // Flow control (see packages/domain/src/flow-control.ts): what a key nobody configured may have in flight at once,
  // across every tasker; the run of failures that opens a key's circuit, and how long it stays open.
  FLOW_DEFAULT_PARALLELISM: int(1, 10_000, 50),
  FLOW_BREAKER_FAILURES: int(1, 10_000, 10),
  FLOW_BREAKER_COOLDOWN_MS: int(100, 3_600_000, 30_000),
  // Longest a task waits for a slot of its flow-control key, or for its paused key, before it is looked at again.
  FLOW_WAIT_MS: int(100, 3_600_000, 30_000),
  // Outcomes sent but not yet stored, at most, in count and bytes: claims wait beyond either, so sends never
  // outrun the writes of their outcomes and memory stays bounded whatever the body sizes.
  OUTCOME_BUFFER: int(1, 10_000, 200),
  OUTCOME_BUFFER_BYTES: int(64 * 1024, 1024 * 1024 * 1024, 32 * 1024 * 1024),
  // As many as sends may be in flight by default, so one busy origin can use every slot; lower it to be gentler.
  HTTP_CONNECTIONS_PER_ORIGIN: int(1, 10_000, 200),
  RESULT_BODY_MAX_BYTES: int(0, 16 * 1024 * 1024, 64 * 1024),
  RESPONSE_MAX_BYTES: int(1, 1024 * 1024 * 1024, 10 * 1024 * 1024),
  CONSUMER_CHUNK_SIZE: int(1, 10_000, 200),
  PARTITIONS_CONSUMED_CONCURRENTLY: int(1, 1_000, 12),
  RELAY_BATCH_SIZE: int(1, 10_000, 500),
  RELAY_POLL_MS: int(10, 60_000, 1000),
  // A lease is the task's timeout plus this grace, renewed every third of it while the tasker holds the task; once
  // it runs out, the sweeper takes the task as its tasker's death left it.
  LEASE_GRACE_MS: int(1_000, 3_600_000, 10_000),
  SWEEP_INTERVAL_MS: int(10, 3_600_000, 5000),
  // A task `new` this long with no outbox entry lost its message after publication (a recreated topic, a broker
  // that lost its tail); the reconciler queues it again. Each pass looks once every RECONCILE_INTERVAL_MS.
  RECONCILE_AFTER_MS: int(1_000, 7 * 24 * 3_600_000, 15 * 60 * 1000),
  RECONCILE_INTERVAL_MS: int(100, 3_600_000, 60_000),
  // How often tasks waiting for a retry are looked for: a retry may start up to this much after its time.
  SCHEDULE_INTERVAL_MS: int(10, 60_000, 1000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 30_000),
  // Each attempt goes out with a traceparent of its own span in the task's trace, unless the task's headers name one.
  TRACEPARENT_OUTBOUND: z.enum(['on', 'off']).default('on'),
  // The probes' own listener (and /metrics): the tasker serves no API.
  HEALTH_PORT: int(0, 65_535, 8081),
  HEALTH_HOST: z.string().min(1).default('0.0.0.0'),
})

export type TaskerConfig = z.output<typeof taskerEnv>

export function loadConfig(env: NodeJS.ProcessEnv): TaskerConfig {
  return parseEnv(taskerEnv, env)
}
