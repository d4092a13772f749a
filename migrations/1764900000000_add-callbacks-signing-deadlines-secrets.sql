-- Up Migration
-- Completion callbacks, signed requests, deadlines and secrets at rest. Expand only: new nullable columns, a new
-- table, a new function and new indexes, so the previous release keeps running beside this one (it reads none of
-- them; see README, Upgrades, for why the taskers go first).

-- A callback is a task of its own, a child of the task whose end it announces: written by the statement that ends
-- the parent, queued through the outbox, retried, guarded and flow-controlled like any task. Null kind: a request.
alter table tasks add column kind text check (kind in ('request', 'callback'));
alter table tasks add column parent_id uuid references tasks (id) on delete cascade;
-- Where to announce the end, per final status: {"done": target, "error": target}, each as callbackTargetOf writes it
-- (packages/infrastructure/src/pg/tasks/add-tasks.ts); secret header values in it are sealed like the request's.
alter table tasks add column callbacks jsonb;
-- Sent with the three Standard Webhooks headers, signed with the owner's signing secrets.
alter table tasks add column sign boolean;
-- Not sent once this instant has passed: the claim ends the task `error` with the code in end_code instead.
alter table tasks add column expires_at timestamptz;
-- Why a task ended without an attempt of its own to say so: `expired`.
alter table tasks add column end_code text check (end_code in ('expired'));
-- The key (by id) that sealed this row's secret header values: re-encryption finds the rows of an older key by it,
-- and a start without that key is refused.
alter table tasks add column secrets_key_id text;

create index if not exists tasks_parent_idx on tasks (parent_id) where parent_id is not null;
create index if not exists tasks_secrets_key_idx on tasks (secrets_key_id) where secrets_key_id is not null;

-- Each API key's signing secrets (Standard Webhooks `whsec_…`), sealed at rest; several active at once so a
-- receiver can rotate. A deleted secret keeps its row (deleted_at) and signs nothing more.
create table signing_secrets (
  id uuid primary key,
  owner_key_id text not null,
  secret text not null,
  secrets_key_id text not null,
  -- The last characters of the secret, for the masked form a list shows.
  hint text not null,
  created_at timestamptz not null,
  deleted_at timestamptz
);
create index if not exists signing_secrets_owner_idx on signing_secrets (owner_key_id, created_at)
  where deleted_at is null;
create index if not exists signing_secrets_key_idx on signing_secrets (secrets_key_id);

-- A UUIDv7 made by the database (Postgres 15 has none built in), for the callback tasks that statements create:
-- task ids are time-ordered, and claims take the oldest first by id.
create or replace function rt_uuid_v7() returns uuid language sql volatile as $$
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
              from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- Down Migration
drop function rt_uuid_v7();
drop table signing_secrets;
drop index tasks_secrets_key_idx;
drop index tasks_parent_idx;
alter table tasks drop column secrets_key_id;
alter table tasks drop column end_code;
alter table tasks drop column expires_at;
alter table tasks drop column sign;
alter table tasks drop column callbacks;
alter table tasks drop column parent_id;
alter table tasks drop column kind;
