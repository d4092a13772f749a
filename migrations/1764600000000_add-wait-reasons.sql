-- Up Migration
-- Expand only: every column is nullable and every index new, so the previous release keeps running beside this one.

-- Why a scheduled task waits: its next retry, its notBefore, or a free send slot for its API key. Null on the rows
-- of the previous release, which scheduled only retries and first runs.
alter table tasks
  add column wait_reason text check (wait_reason in ('retry', 'not-before', 'key-busy'));
alter table task_statuses
  add column reason text;
-- The history shows why each wait began; a task stored scheduled waited for its notBefore (or delayMs).
create or replace view task_history as
  select id as task_id, initial_status as status, created_at as at, 0::bigint as seq,
         case when initial_status = 'scheduled' then 'not-before' end as reason
  from tasks
  union all
  select task_id, status, at, id, reason from task_statuses;

-- The reconciler looks for tasks long in `new` (by updated_at) whose outbox entry is gone.
create index if not exists tasks_new_since_idx on tasks (updated_at) where status = 'new';
-- Tasks waiting for a send slot of their API key, woken oldest first when one frees.
create index if not exists tasks_key_busy_idx on tasks (owner_key_id, run_at) where status = 'scheduled' and wait_reason = 'key-busy';

-- Down Migration
drop index tasks_key_busy_idx;
drop index tasks_new_since_idx;
drop view task_history;
create view task_history as
  select id as task_id, initial_status as status, created_at as at, 0::bigint as seq from tasks
  union all
  select task_id, status, at, id from task_statuses;
alter table task_statuses drop column reason;
alter table tasks drop column wait_reason;
