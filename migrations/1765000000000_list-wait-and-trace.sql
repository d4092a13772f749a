-- Up Migration
-- Expand only: a nullable column, new indexes, a new trigger; the previous release runs unchanged beside this one
-- (its cancellations fire the trigger too; the tasks its taskers end wake long-polls only at their deadline).

-- The W3C traceparent a task was submitted with (or that the server started for it); null on older rows.
alter table tasks
  add column traceparent text check (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

-- A task's destination: the host of its URL, with the port when not the default. URLs are stored normalised
-- (WHATWG), so an http(s) URL always reads `scheme://host[:port]/…` and the third part between slashes is it.
create or replace function task_destination(url text) returns text
  language sql immutable parallel safe
  return split_part(url, '/', 3);

-- GET /tasks lists one key's tasks newest first, by keyset on (created_at, id): each filter has an index whose
-- order is the page's order, so a page reads `limit` index entries however many tasks the key has.
create index if not exists tasks_owner_created_idx on tasks (owner_key_id, created_at desc, id desc);
create index if not exists tasks_owner_status_created_idx on tasks (owner_key_id, status, created_at desc, id desc);
create index if not exists tasks_owner_destination_created_idx
  on tasks (owner_key_id, task_destination(url), created_at desc, id desc);

-- Wakes the server's long-polls (GET /tasks/{id}?wait=N) when an owner cancels a task, whichever release or process
-- runs the statement. Only cancellations: NOTIFY makes a commit take a database-wide lock (see 1764000000001), and
-- the tasker's writes of outcomes are the hot path, so the tasker announces the tasks it ended after its commit
-- instead, many per notification (packages/infrastructure/src/pg/task-end-notifier.ts). Measured over bench S2's
-- 40,000 tasks, this cluster's Postgres spent 25.2 s of CPU with no notification, 27.4 s with the announcements
-- and 28.5 s with this trigger firing for every end (two rounds each, on a machine shared with other work).
create function notify_task_ended() returns trigger language plpgsql as $$
begin
  perform pg_notify('task_ended', new.id::text);
  return null;
end
$$;
create trigger tasks_notify_cancelled after update of status on tasks
  for each row when (new.status = 'cancelled' and old.status is distinct from new.status)
  execute function notify_task_ended();

-- Down Migration
drop trigger tasks_notify_cancelled on tasks;
drop function notify_task_ended();
drop index tasks_owner_destination_created_idx;
drop index tasks_owner_status_created_idx;
drop index tasks_owner_created_idx;
drop function task_destination(text);
alter table tasks drop column traceparent;
