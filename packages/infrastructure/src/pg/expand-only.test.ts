import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MIGRATIONS_DIR } from '../../testing/test-database.js'
import { breakingSteps } from './expand-only.js'

// Migrations before this one were written before rollouts were promised to run both releases side by side.
const EXPAND_ONLY_SINCE = '1764600000000'

describe('breakingSteps', () => {
  it.each([
    ['a required column with nothing to fill it', 'alter table tasks add column owner text not null;'],
    ['a column made required', 'alter table tasks alter column url set not null;'],
    ['a default taken away', 'alter table tasks alter column max_attempts drop default;'],
    ['a column dropped', 'alter table tasks drop column run_at;'],
    ['a table dropped', 'drop table task_statuses;'],
    ['a view dropped', 'drop view task_history;'],
    ['a column renamed', 'alter table tasks rename column url to target;'],
    ['a type changed', 'alter table tasks alter column timeout_ms type bigint;'],
  ])('flags %s', (_, sql) => {
    expect(breakingSteps(`-- Up Migration\n${sql}\n-- Down Migration\nselect 1;`)).toHaveLength(1)
  })

  it('lets through what the running release does not notice, and the Down section whatever it does', () => {
    const sql = `-- Up Migration
      alter table tasks add column wait_reason text check (wait_reason in ('retry')), add column n integer not null default 0;
      create index tasks_x_idx on tasks (updated_at) where status = 'new';
      create or replace view task_history as select 1;
      -- a comment that says drop column is no step
      -- Down Migration
      alter table tasks drop column wait_reason;`
    expect(breakingSteps(sql)).toEqual([])
  })

  it('lets a contract step through once the migration says which release stopped using the old shape', () => {
    const sql = '-- Up Migration\n-- Contract: no release since 1.4 reads run_at\nalter table tasks drop column run_at;'
    expect(breakingSteps(sql)).toEqual([])
  })
})

describe('the migrations', () => {
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => f >= EXPAND_ONLY_SINCE)

  it.each(files)('%s only expands the schema', (file) => {
    expect(breakingSteps(readFileSync(`${MIGRATIONS_DIR}/${file}`, 'utf8'))).toEqual([])
  })
})
