-- Up Migration
-- A task that gives up is announced on the dead-letter topic through the outbox, with its last outcome as the
-- payload; an owner may then redrive it, which grants a fresh budget of attempts counted from budget_from.
alter table outbox
  add column payload jsonb, -- the message of a task.dead-lettered entry; null for task.requested
  add constraint outbox_kind_check check (kind in ('task.requested', 'task.dead-lettered'));
alter table tasks
  add column budget_from integer not null default 0; -- attempts made before the current budget began

-- Down Migration
alter table tasks drop column budget_from;
delete from outbox where kind = 'task.dead-lettered';
alter table outbox drop constraint outbox_kind_check, drop column payload;
