import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { parseTargetAllowlist, type TargetPolicyOptions } from './http/target-policy.js'
import { parseSecretKeys } from './secrets/secret-box.js'

// Settings shared by both apps. Each app's config.ts extends these and is the only reader of process.env.

/**
 * An integer setting and its range. Every numeric setting has both ends: a value past what the code can hold
 * (a Date, a Postgres integer, a timer) fails the boot naming the variable, not a request later.
 */
export const intSetting = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback)

export const sharedEnv = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  DATABASE_POOL_MAX: intSetting(1, 1_000, 10),
  KAFKA_BROKERS: z
    .string()
    .min(1)
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    ),
  KAFKA_CLIENT_ID: z.string().min(1).default('request-tasker'),
  KAFKA_TOPIC_TASKS: z.string().min(1).default('task.requested.v1'),
  KAFKA_TOPIC_DEAD_LETTERS: z.string().min(1).default('task.dead-lettered.v1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // The server refuses literal addresses at submission, the tasker every resolved address at connect time.
  SSRF_GUARD: z.enum(['on', 'off']).default('on'),
  TARGET_ALLOWLIST: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      try {
        return parseTargetAllowlist(raw)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message })
        return z.NEVER
      }
    }),
  // Keys that encrypt secret header values and signing secrets at rest: `id:base64 32 bytes`, comma-separated, the
  // first one encrypting, all of them decrypting. Optional, but a database that holds secrets needs their keys.
  SECRETS_KEYS: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      try {
        return parseSecretKeys(raw)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message })
        return z.NEVER
      }
    }),
  MIGRATIONS_DIR: z
    .string()
    .min(1)
    .default(fileURLToPath(new URL('../../../migrations', import.meta.url))),
})

/** Parses the environment once at start-up; every bad variable is named in one error, so a boot fails loudly. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const parsed = schema.safeParse(env)
  if (parsed.success) return parsed.data
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
  throw new Error(`invalid configuration:\n${lines.join('\n')}`)
}

/** The target policy's settings as both apps read them. */
export function targetPolicyOptions(config: {
  SSRF_GUARD: 'on' | 'off'
  TARGET_ALLOWLIST: TargetPolicyOptions['allowlist']
}): TargetPolicyOptions {
  return { guard: config.SSRF_GUARD === 'on', allowlist: config.TARGET_ALLOWLIST }
}

export type NumericSetting = { name: string; min: number | null; max: number | null }

/** The numeric settings of an env schema and their bounds (null: none, as `int()` alone sets only safe-integer ones). */
export function numericSettingsOf(schema: z.ZodObject): NumericSetting[] {
  const bound = (v: number | null) =>
    v === null || !Number.isFinite(v) || Math.abs(v) >= Number.MAX_SAFE_INTEGER ? null : v
  return Object.entries(schema.shape).flatMap(([name, field]) => {
    const inner = field instanceof z.ZodDefault ? field.unwrap() : field
    return inner instanceof z.ZodNumber ? [{ name, min: bound(inner.minValue), max: bound(inner.maxValue) }] : []
  })
}
