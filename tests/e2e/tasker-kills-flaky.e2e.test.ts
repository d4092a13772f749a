import { expect, it } from 'vitest'
import { useE2e } from '../support/e2e.js'
import type { TargetReply } from '../support/target-server.js'
import { mapConcurrently } from '../support/task-api.js'

// The guarantees under the worst weather at once: a third party that fails, stalls and rate-limits, and a tasker
// killed with -9 three times. Every task must still end as its retry policy says, judged from what the target
// answered it on each attempt, and none may be lost or left behind.
const e2e = useE2e('tasker-kills-flaky')
const TOTAL = 5000
const KILLS = 3
const MAX_ATTEMPTS = 4
const TIMEOUT_MS = 500
// Short leases and session: a killed tasker's claims come back within ~2 s and its partitions within 6 s (the
// broker's smallest session). Retries are queued every 100 ms.
const TASKER_ENV = {
  LEASE_GRACE_MS: '1000',
  SWEEP_INTERVAL_MS: '250',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  SCHEDULE_INTERVAL_MS: '100',
  RELAY_POLL_MS: '200',
  // As many connections to the target as send slots: a send queued in the tasker for a free connection may time
  // out before it reaches the target, and then the target's record could not tell what the attempt got.
  SEND_CONCURRENCY: '100',
  HTTP_CONNECTIONS_PER_ORIGIN: '100',
}

/** What the target chose to answer one request; `slow` answers after the task's timeout, so the tasker sees none. */
type Answer = 'ok' | 'fail' | 'slow' | 'limited' | 'unavailable'
const REPLIES: Record<Answer, TargetReply> = {
  ok: { body: 'ok' },
  fail: { status: 500, body: 'boom' },
  slow: { delayMs: TIMEOUT_MS + 400, body: 'too late' },
  limited: { status: 429, headers: [['Retry-After', '1']] },
  unavailable: { status: 503, headers: [['Retry-After', '1']] },
}
/** How the tasker records each answer: an HTTP status, or the error it got instead. */
const RECORDED: Record<Answer, string> = {
  ok: '200',
  fail: '500',
  slow: 'timeout',
  limited: '429',
  unavailable: '503',
}

/**
 * Whether the tasker recorded what the target answered. An answer that reached the tasker after the task's timeout
 * (on two busy cores, 500 ms can pass between the target's answer and the tasker reading it) is a timeout to it.
 */
function seen(answer: Answer, got: string): boolean {
  return got === RECORDED[answer] || got === 'timeout'
}

/** Every 20th task fails on every attempt; the others get 60 % 200, 15 % 500, 10 % slow, 15 % 429 or 503. */
function choose(task: number): Answer {
  if (task % 20 === 0) return (['fail', 'slow', 'limited', 'unavailable'] as const)[(task / 20) % 4]!
  const r = Math.random()
  if (r < 0.6) return 'ok'
  if (r < 0.75) return 'fail'
  if (r < 0.85) return 'slow'
  return r < 0.925 ? 'limited' : 'unavailable'
}

it(`ends all ${TOTAL} tasks as their retry policy says against a flaky target, with the tasker killed ${KILLS} times`, async () => {
  const deadline = performance.now() + 150_000
  const answered = new Map<number, Answer[]>() // task index → the target's answers, in arrival order
  const target = await e2e.startTarget((req) => {
    const task = Number(req.url.split('/')[2])
    const answer = choose(task)
    answered.set(task, [...(answered.get(task) ?? []), answer])
    return REPLIES[answer]
  })
  const api = e2e.api(await e2e.startServer(), 50)
  const indices = Array.from({ length: TOTAL }, (_, i) => i)
  const retry = { maxAttempts: MAX_ATTEMPTS, backoff: { baseMs: 100, maxMs: 1000 } }
  // Flow control holds a whole key for a 429's Retry-After, slows it, and opens its circuit on a run of failures;
  // this weather is drawn per task, not per host, so each task has a key of its own, as if it called a third party
  // of its own.
  const flowControl = (i: number) => ({ key: `flaky-${i}` })

  // 1. Submissions flow in while the first tasker works on them.
  let tasker = await e2e.startTasker(TASKER_ENV)
  const submitted = await mapConcurrently(indices, 50, (i) =>
    api.submit({
      method: 'POST',
      url: `${target.url}/t/${i}`,
      body: `task ${i}`,
      timeoutMs: TIMEOUT_MS,
      retry,
      flowControl: flowControl(i),
    }),
  )
  expect(submitted.filter((s) => s.status !== 201)).toEqual([])
  const ids = submitted.map((s) => s.id!)

  // 2. Three times: kill -9 once another share of the tasks has finished, wait until the dead tasker's statements
  // are over, and start a fresh one.
  const finished = async () => {
    const counts = await e2e.statusCounts()
    return (counts.done ?? 0) + (counts.error ?? 0)
  }
  for (let k = 1; k <= KILLS; k++) {
    await expect
      .poll(finished, { timeout: deadline - performance.now(), interval: 50 })
      .toBeGreaterThanOrEqual((TOTAL * k) / (KILLS + 2))
    expect(await tasker.kill()).toEqual({ code: null, signal: 'SIGKILL' })
    await expect.poll(() => e2e.databaseSessions(tasker), { timeout: 10_000, interval: 20 }).toBe(0)
    tasker = await e2e.startTasker(TASKER_ENV)
  }

  // 3. The last tasker finishes the run: nothing may stay new, scheduled or in_process.
  await expect.poll(finished, { timeout: Math.max(deadline - performance.now(), 1), interval: 250 }).toBe(TOTAL)
  const seconds = (150_000 - (deadline - performance.now())) / 1000

  // 4. Each task against the target's record of what it answered.
  const { rows } = await e2e.db.pool.query<{
    id: string
    status: string
    attempts: number
    history: string[]
    results: Array<{ n: number; got: string }>
  }>(
    `select t.id, t.status, t.attempts,
            (select array_agg(s.status::text order by s.seq) from task_history s where s.task_id = t.id) as history,
            coalesce((select json_agg(json_build_object('n', r.attempt,
                        'got', coalesce(r.http_status_code::text, r.error_code)) order by r.attempt)
                      from task_results r where r.task_id = t.id), '[]') as results
     from tasks t`,
  )
  const byId = new Map(rows.map((r) => [r.id, r]))
  const wrong: unknown[] = []
  let lost = 0
  let stuck = 0
  let requeued = 0
  let resent = 0
  let late = 0
  let interrupted = 0
  const tally = { done: 0, error: 0 }
  for (const i of indices) {
    const task = byId.get(ids[i]!)
    const answers = answered.get(i) ?? []
    if (!task || answers.length === 0) {
      lost++
      continue
    }
    if (task.status !== 'done' && task.status !== 'error') {
      stuck++
      continue
    }
    tally[task.status]++
    const last = answers.at(-1)!
    // The claim that holds the task made the last send; its recorded outcome is what the target last answered,
    // and the policy decides the status from it: a 200 ends done, anything else error once attempts ran out.
    const final = task.results.find((r) => r.n === task.attempts)
    if (final?.got === 'interrupted') {
      // A tasker died during the task's last attempt: with no attempt left, the sweeper ended it error instead of
      // sending it a fifth time. That attempt may or may not have reached the target.
      if (task.status === 'error' && task.attempts === MAX_ATTEMPTS) interrupted++
      else wrong.push({ task: i, status: task.status, attempts: task.attempts, results: task.results, answers })
      continue
    }
    const expected = final?.got === '200' ? 'done' : task.attempts >= MAX_ATTEMPTS ? 'error' : 'scheduled'
    if (!final || !seen(last, final.got) || task.status !== expected) {
      wrong.push({ task: i, status: task.status, attempts: task.attempts, results: task.results, answers })
      continue
    }
    // A requeue (in_process → new) means a tasker died holding the claim: that attempt may or may not have reached
    // the target. Otherwise the recorded attempts are exactly the target's answers, one per attempt, stopping at
    // the first 200 or after maxAttempts.
    if (task.history.some((s, j) => s === 'in_process' && task.history[j + 1] === 'new')) {
      requeued++
      // A send whose result died with the tasker shows as an answer with no recorded attempt.
      if (answers.length > task.results.length) resent++
      continue
    }
    const recorded = task.results.map((r) => r.got)
    const firstOk = recorded.indexOf('200')
    const attemptsDue = firstOk === -1 ? MAX_ATTEMPTS : firstOk + 1
    late += recorded.filter((got, n) => got === 'timeout' && answers[n] !== 'slow').length
    if (
      recorded.length !== answers.length ||
      recorded.some((got, n) => !seen(answers[n]!, got)) ||
      answers.length !== attemptsDue
    ) {
      wrong.push({ task: i, status: task.status, attempts: task.attempts, results: task.results, answers })
    }
  }
  expect({ lost, stuck, wrong: wrong.slice(0, 5), wrongCount: wrong.length }).toEqual({
    lost: 0,
    stuck: 0,
    wrong: [],
    wrongCount: 0,
  })
  // Each policy path was walked: tasks that gave up, tasks that succeeded, and tasks resent after a kill.
  expect(tally.error).toBeGreaterThanOrEqual(TOTAL / 20)
  expect(tally.done).toBeGreaterThan(TOTAL / 2)
  expect(requeued).toBeGreaterThan(0)
  // Answers seen late stay the exception: the timeout, not the machine, decides the slow ones.
  expect(late).toBeLessThan(target.requests.length * 0.05)
  console.log(
    `kill -9 tasker x${KILLS}: ${TOTAL} tasks, ${tally.done} done, ${tally.error} error, ${lost} lost, ` +
      `${stuck} stuck, ${resent} resent after a kill (${requeued} requeued, ${interrupted} interrupted on their last ` +
      `attempt, ${target.requests.length} sends, ${late} prompt ` +
      `answers read after the timeout, ${seconds.toFixed(1)} s)`,
  )
})
