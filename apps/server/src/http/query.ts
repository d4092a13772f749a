import { invalidRequest, TASK_STATUSES, type TaskStatus } from '@request-tasker/domain'
import { z } from 'zod'

// Query strings arrive as strings, or arrays when a name repeats: `status=a,b` and `status=a&status=b` are one list.
const list = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()))
  .pipe(
    z
      .array(z.enum(TASK_STATUSES, { error: `each must be one of ${TASK_STATUSES.join(', ')}` }))
      .min(1)
      .transform((s) => [...new Set(s)]),
  )
const one = z.string({ error: 'must be given once' })
const integer = (name: string) => one.regex(/^\d{1,7}$/, `${name} must be a whole number`).transform(Number)

/** The filter fields GET /tasks takes; the bulk actions take the same in their JSON body. */
const filterQuery = {
  status: list.optional(),
  destination: one.optional(),
  createdAfter: one.optional(),
  createdBefore: one.optional(),
}
const listQuery = z.object({ ...filterQuery, limit: integer('limit').optional(), cursor: one.optional() })
const waitQuery = z.object({ wait: integer('wait').optional() })

export const filterBody = z
  .object(
    {
      status: z
        .array(z.enum(TASK_STATUSES, { error: `each must be one of ${TASK_STATUSES.join(', ')}` }))
        .min(1)
        .nullish(),
      destination: z.string().nullish(),
      createdAfter: z.string().nullish(),
      createdBefore: z.string().nullish(),
    },
    { error: 'must be a JSON object (`{}` takes every task)' },
  )
  .transform(({ status, destination, createdAfter, createdBefore }) => ({
    ...(status != null && { statuses: status as TaskStatus[] }),
    ...(destination != null && { destination }),
    ...(createdAfter != null && { createdAfter }),
    ...(createdBefore != null && { createdBefore }),
  }))

/** Parses with `schema` or throws `invalid-request` naming each bad field. */
export function parseOrRefuse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input)
  if (parsed.success) return parsed.data
  throw invalidRequest(parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })))
}

export function parseListQuery(query: unknown) {
  const { status, ...rest } = parseOrRefuse(listQuery, query ?? {})
  return { ...rest, ...(status && { statuses: status }) }
}

export function parseWait(query: unknown): number {
  return parseOrRefuse(waitQuery, query ?? {}).wait ?? 0
}
