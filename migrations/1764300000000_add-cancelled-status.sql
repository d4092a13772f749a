-- Up Migration
-- An owner may withdraw a task nobody is sending yet: `cancelled` is terminal and never claimed.
alter table tasks drop constraint tasks_status_check;
alter table tasks add constraint tasks_status_check
  check (status in ('new', 'scheduled', 'in_process', 'done', 'error', 'cancelled'));

-- Down Migration
-- The older code knows no cancelled task; `error` is the terminal status that never sends, and history keeps the truth.
update tasks set status = 'error' where status = 'cancelled';
alter table tasks drop constraint tasks_status_check;
alter table tasks add constraint tasks_status_check
  check (status in ('new', 'scheduled', 'in_process', 'done', 'error'));
