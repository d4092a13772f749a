// `pnpm migrate`: applies pending migrations to DATABASE_URL and exits non-zero when that fails.
import { parseEnv, sharedEnv } from '../config.js'
import { createLogger } from '../logger.js'
import { runMigrations } from './migrate.js'

const log = createLogger('migrate', 'info')
try {
  const env = parseEnv(sharedEnv.pick({ DATABASE_URL: true, MIGRATIONS_DIR: true }), process.env)
  const applied = await runMigrations({
    databaseUrl: env.DATABASE_URL,
    dir: env.MIGRATIONS_DIR,
    log: (message) => log.debug({ detail: message }, 'node-pg-migrate'),
  })
  log.info({ applied, dir: env.MIGRATIONS_DIR }, applied.length > 0 ? 'migrations applied' : 'database already current')
} catch (err) {
  log.error({ err }, 'migration failed')
  // Set rather than process.exit(), so the log line above is flushed before the process ends.
  process.exitCode = 1
}
