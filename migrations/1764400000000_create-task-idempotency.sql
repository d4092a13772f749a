-- Up Migration
-- An Idempotency-Key per API key names one submission for a window: the unique key makes two racing submissions
-- with the same key store one task, without a read before the write. Rows past the window are taken over in place.
create table task_idempotency (
  owner_key_id text not null,
  key text not null check (length(key) between 1 and 255),
  body_hash text not null,       -- sha-256 of the submitted body: the same key with another body is refused
  task_id uuid not null,
  created_at timestamptz not null,
  primary key (owner_key_id, key)
);

-- Down Migration
drop table task_idempotency;
