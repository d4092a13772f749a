-- Up Migration
-- NOTIFY serialises the commits of every transaction that sends one: Postgres holds a database-wide lock from
-- pre-commit to the end of commit to keep its queue in commit order, so no two such commits share a WAL flush.
-- Fired by a trigger on each submission it capped submissions near 500/s where the same statement reaches
-- 4,000/s without it (pgbench, 50 clients, fsync on). The server now sends one coalesced NOTIFY after its
-- commits instead (packages/infrastructure/src/pg/outbox-notifier.ts); the relay's polling still backs it up.
drop trigger outbox_notify on outbox;
drop function notify_outbox();

-- Down Migration
create function notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('outbox', '');
  return null;
end
$$;
create trigger outbox_notify after insert on outbox for each statement execute function notify_outbox();
