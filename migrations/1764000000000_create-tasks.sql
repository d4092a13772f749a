-- Up Migration
-- The original service's three entities (tasks, task_statuses, task_results) plus the outbox that makes a 201 a promise.

create table tasks (
  id uuid primary key,
  owner_key_id text not null,
  method text not null,
  url text not null,
  request_headers jsonb not null,          -- [[name, value], ...] in order; a name may repeat
  request_body bytea,
  timeout_ms integer not null check (timeout_ms between 1 and 60000),
  status text not null check (status in ('new', 'in_process', 'done', 'error')),
  attempts integer not null default 0,     -- claims so far; the n of the attempt in flight
  lease_until timestamptz,                 -- while in_process: past this, the sweeper requeues the task
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index tasks_stale_idx on tasks (lease_until) where status = 'in_process';

create table task_statuses (
  id bigint generated always as identity primary key,
  task_id uuid not null references tasks (id) on delete cascade,
  status text not null,
  at timestamptz not null
);
create index task_statuses_task_idx on task_statuses (task_id, id);

-- One row per attempt; the task's result is its latest attempt.
create table task_results (
  task_id uuid not null references tasks (id) on delete cascade,
  attempt integer not null,
  started_at timestamptz not null,
  duration_ms integer not null,
  http_status_code integer,
  headers jsonb,                           -- [[name, value], ...]; repeated headers kept
  length bigint,                           -- body bytes received, past the stored cap too
  body bytea,                              -- at most the configured cap
  body_truncated boolean,
  error_code text,
  error_message text,
  primary key (task_id, attempt),
  check ((http_status_code is null) <> (error_code is null))
);

create table outbox (
  id bigint generated always as identity primary key,
  kind text not null,
  task_id uuid not null,
  created_at timestamptz not null default now()
);

-- Wakes the relay at once; its polling is the backup if a notification is missed.
create function notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('outbox', '');
  return null;
end
$$;
create trigger outbox_notify after insert on outbox for each statement execute function notify_outbox();

-- Down Migration
drop table outbox;
drop function notify_outbox();
drop table task_results;
drop table task_statuses;
drop table tasks;
