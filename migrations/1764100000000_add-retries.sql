-- Up Migration
-- Retries with backoff: a task carries its own policy, and waits as `scheduled` until `run_at` between attempts.
alter table tasks drop constraint tasks_status_check;
alter table tasks add constraint tasks_status_check
  check (status in ('new', 'scheduled', 'in_process', 'done', 'error'));
-- Tasks stored before retries existed keep the one attempt they were promised.
alter table tasks
  add column max_attempts integer not null default 1 check (max_attempts >= 1),
  add column backoff_base_ms integer not null default 1000 check (backoff_base_ms >= 1),
  add column backoff_max_ms integer not null default 600000 check (backoff_max_ms >= backoff_base_ms),
  add column retry_on jsonb not null default '{"statuses": [], "errors": []}', -- {statuses: int[], errors: text[]}
  add column run_at timestamptz,                                               -- while scheduled: when it is due
  add constraint tasks_run_at_check check ((status = 'scheduled') = (run_at is not null));
alter table tasks
  alter column max_attempts drop default,
  alter column backoff_base_ms drop default,
  alter column backoff_max_ms drop default,
  alter column retry_on drop default;
-- The scheduler reads due tasks in run_at order; only scheduled ones are indexed.
create index tasks_due_idx on tasks (run_at) where status = 'scheduled';

-- Down Migration
drop index tasks_due_idx;
-- Scheduled tasks are sent now, through the outbox, since the older code has no scheduler to wake them.
with moved as (
  update tasks set status = 'new', run_at = null where status = 'scheduled' returning id
), history as (
  insert into task_statuses (task_id, status, at) select id, 'new', now() from moved
)
insert into outbox (kind, task_id) select 'task.requested', id from moved;
alter table tasks
  drop constraint tasks_run_at_check,
  drop column run_at,
  drop column retry_on,
  drop column backoff_max_ms,
  drop column backoff_base_ms,
  drop column max_attempts;
alter table tasks drop constraint tasks_status_check;
alter table tasks add constraint tasks_status_check check (status in ('new', 'in_process', 'done', 'error'));
