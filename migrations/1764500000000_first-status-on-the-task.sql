-- Up Migration
-- A task's first status is the one it was stored with, at created_at: the tasks row says it, so a submission no
-- longer writes a task_statuses row (an insert, two index entries and a foreign-key check, a quarter of Postgres's
-- work per submission). task_statuses keeps every later change; task_history is the whole history.
alter table tasks add column initial_status text check (initial_status in ('new', 'scheduled'));
with first as (
  select distinct on (task_id) id, task_id, status from task_statuses order by task_id, id
), moved as (
  update tasks t set initial_status = first.status from first where t.id = first.task_id returning first.id
)
delete from task_statuses s using moved where s.id = moved.id;
-- Every submission wrote its first status; a task without one would be a bug, and `new` is what it was stored as.
update tasks set initial_status = 'new' where initial_status is null;
alter table tasks alter column initial_status set not null;

-- Ordered by seq within a task: the first status comes before every row of task_statuses (whose ids start at 1).
create view task_history as
  select id as task_id, initial_status as status, created_at as at, 0::bigint as seq from tasks
  union all
  select task_id, status, at, id from task_statuses;

-- Down Migration
drop view task_history;
-- The first statuses go back in front of the later ones: ids are handed out again, in history order per task.
create temporary table later_statuses as select task_id, status, at, id from task_statuses;
delete from task_statuses;
insert into task_statuses (task_id, status, at)
select task_id, status, at from (
  select id as task_id, initial_status as status, created_at as at, 0::bigint as seq from tasks
  union all
  select task_id, status, at, id from later_statuses
) h
order by task_id, seq;
drop table later_statuses;
alter table tasks drop column initial_status;
