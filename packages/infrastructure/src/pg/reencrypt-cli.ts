// `pnpm secrets:reencrypt`: seals again, with the first key of SECRETS_KEYS, every secret the database holds sealed
// with another key; afterwards the other keys can be dropped from SECRETS_KEYS.
import { parseEnv, sharedEnv } from '../config.js'
import { createLogger } from '../logger.js'
import { secretBox } from '../secrets/secret-box.js'
import { createPool } from './pool.js'
import { reencryptSecrets } from './secrets-at-rest.js'

const log = createLogger('reencrypt', 'info')
try {
  const env = parseEnv(sharedEnv.pick({ DATABASE_URL: true, SECRETS_KEYS: true }), process.env)
  const pool = createPool({ databaseUrl: env.DATABASE_URL, max: 1 })
  try {
    const box = secretBox(env.SECRETS_KEYS)
    const rewritten = await reencryptSecrets(pool, box)
    log.info({ keyId: box.keyId, ...rewritten }, 'secrets encrypted again with the current key')
  } finally {
    await pool.end()
  }
} catch (err) {
  log.error({ err }, 're-encryption failed')
  process.exitCode = 1
}
