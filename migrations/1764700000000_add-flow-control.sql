-- Up Migration
-- Flow control: every task has a flow-control key (its URL's origin unless it names one), scoped to its API key,
-- and each key's limits and live state sit in flow_keys, locked by the claims and outcomes that change them, so
-- every tasker sees the same limits. Expand only: new nullable columns, a new table, new indexes.

alter table tasks add column flow_key text;
-- The epoch of the key in which the task was given a place in its rate's queue (see admit); null: none.
alter table tasks add column flow_reservation integer;
alter table tasks drop constraint tasks_wait_reason_check;
alter table tasks add constraint tasks_wait_reason_check
  check (wait_reason in ('retry', 'not-before', 'key-busy', 'rate-limited', 'parallelism', 'paused', 'circuit-open'));

create table flow_keys (
  owner_key_id text not null,
  key text not null check (length(key) between 1 and 255),
  -- What the owner set: null parts take the deployment's defaults.
  rate integer check (rate >= 1),
  period_ms integer not null default 1000 check (period_ms between 1 and 86400000),
  burst integer check (burst >= 1),
  parallelism integer check (parallelism >= 1),
  paused boolean not null default false,
  -- The live state (see packages/domain/src/flow-control.ts).
  tokens double precision not null default 1,
  send_tokens double precision not null default 1,
  refilled_at timestamptz not null default now(),
  epoch integer not null default 0,
  adaptive_rate double precision,
  adapted_at timestamptz,
  blocked_until timestamptz,
  circuit text not null default 'closed' check (circuit in ('closed', 'open', 'half-open')),
  circuit_failures integer not null default 0,
  circuit_until timestamptz,
  recent_since timestamptz not null default now(),
  recent_sends integer not null default 0,
  recent_throttled integer not null default 0,
  recent_failures integer not null default 0,
  pace_since timestamptz not null default now(),
  pace_answered integer not null default 0,
  pace_before integer not null default 0,
  configured_at timestamptz,
  primary key (owner_key_id, key)
);

-- A key's sends in flight, counted at each claim; and its waiting tasks, woken as its sends end.
create index if not exists tasks_flow_in_flight_idx on tasks (owner_key_id, flow_key) where status = 'in_process';
create index if not exists tasks_flow_waiting_idx on tasks (owner_key_id, flow_key, run_at) where status = 'scheduled';

-- Down Migration
drop index tasks_flow_waiting_idx;
drop index tasks_flow_in_flight_idx;
drop table flow_keys;
update tasks set wait_reason = 'retry', run_at = coalesce(run_at, now())
  where wait_reason in ('rate-limited', 'parallelism', 'paused', 'circuit-open');
alter table tasks drop constraint tasks_wait_reason_check;
alter table tasks add constraint tasks_wait_reason_check
  check (wait_reason in ('retry', 'not-before', 'key-busy'));
alter table tasks drop column flow_reservation;
alter table tasks drop column flow_key;
