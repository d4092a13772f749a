// The callback task of each task a statement ends, written by that statement: the end and its announcement commit
// together, so a crash between them cannot lose the callback, and the callback then goes the way of any task
// (outbox, Kafka, claim with flow control, retries, the SSRF guard at connect time, signing at send time).
//
// `ended` names a CTE with the columns (id, status, document): the task, its final status, and its callback
// document (see callbackDocument in the domain) without the timings, which are added here from the row. The
// target is the task's callback for that status, as add-tasks.ts stored it in `tasks.callbacks`; its secret header
// values stay sealed, with the parent's key id; its sends are spans of the parent's trace. Ids are UUIDv7 from the
// database (rt_uuid_v7, see the migration).
export function callbackTasksOf(ended: string, at: string): string {
  return `
  callback_tasks as (
    insert into tasks (id, owner_key_id, method, url, request_headers, request_body, timeout_ms, status, attempts,
                       budget_from, max_attempts, backoff_base_ms, backoff_max_ms, retry_on, created_at, updated_at,
                       flow_key, kind, parent_id, sign, secrets_key_id, traceparent, initial_status)
    select rt_uuid_v7(), p.owner_key_id, 'POST', c.target->>'url', c.target->'headers',
           convert_to((e.document || jsonb_build_object(
             'createdAt', to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'finishedAt', to_char(${at} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text, 'UTF8'),
           (c.target->>'timeoutMs')::integer, 'new', 0, 0, (c.target->'retry'->>'maxAttempts')::integer,
           (c.target->'retry'->'backoff'->>'baseMs')::integer, (c.target->'retry'->'backoff'->>'maxMs')::integer,
           c.target->'retry'->'retryOn', ${at}, ${at}, c.target->>'flowKey', 'callback', p.id, true,
           p.secrets_key_id, p.traceparent, 'new'
    from ${ended} e
    join tasks p on p.id = e.id
    cross join lateral (select p.callbacks -> e.status as target) c
    where jsonb_typeof(c.target) = 'object'
    returning id
  ), callbacks_queued as (
    insert into outbox (kind, task_id) select 'task.requested', id from callback_tasks
  )`
}
