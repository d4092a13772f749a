/**
 * The steps of a migration's Up section that would break the release still running beside it during a rollout:
 * it keeps reading and writing the old shape until the new release has replaced it everywhere. Expand first (add
 * nullable columns, columns with a default, tables, indexes), and contract in a later release, once nothing uses
 * the old shape; such a later migration says so in a `-- Contract:` line, naming what no release uses any more.
 */
export function breakingSteps(migration: string): string[] {
  const up = upSection(migration)
  if (/^\s*--\s*Contract:/im.test(up)) return []
  const statements = withoutComments(up)
    .split(';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
  return statements.filter((statement) => BREAKING.some((rule) => rule.test(statement)))
}

const BREAKING = [
  // A column the running release does not write, required and with nothing to fill it: its inserts fail.
  /\badd column\b(?![^,]*\bdefault\b)[^,]*\bnot null\b/i,
  /\bset not null\b/i,
  /\bdrop default\b/i,
  // Gone or renamed while the running release still reads it.
  /\bdrop (column|table|view)\b/i,
  /\brename\b/i,
  /\balter column \S+ (set data )?type\b/i,
]

function upSection(migration: string): string {
  const down = migration.search(/^\s*--\s*Down Migration/im)
  return down === -1 ? migration : migration.slice(0, down)
}

function withoutComments(sql: string): string {
  return sql.replace(/--.*$/gm, '')
}
