import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { BareSubmitResult } from './baselines/bare-submit.ts'
import { PG_BOSS_SETTINGS, type QueueBaselineResult } from './baselines/pg-boss-queue.ts'
import type { RawBrokerResult } from './baselines/raw-broker.ts'
import type { RawSendResult } from './baselines/raw-send.ts'
import type { CrashRecoveryResult } from './scenarios/crash-recovery.ts'
import type { DispatchLatencyResult, DispatchPhase } from './scenarios/dispatch-latency.ts'
import { COSTED, type EndToEndResult } from './scenarios/end-to-end.ts'
import type { FlowKeysResult } from './scenarios/flow-keys.ts'
import type { LargeAnswersResult } from './scenarios/large-answers.ts'
import type { LargeSubmissionsResult } from './scenarios/large-submissions.ts'
import type { ListPagesResult } from './scenarios/list-pages.ts'
import type { LongPollResult } from './scenarios/long-poll.ts'
import type { MemoryResult } from './scenarios/memory.ts'
import type { SlowTargetResult } from './scenarios/slow-target.ts'
import type { SubmitResult } from './scenarios/submit.ts'
import { formatCpuUse } from './support/cpu.ts'
import type { Environment } from './support/environment.ts'
import { toMb } from './support/memory.ts'
import { type Steady, steady } from './support/stats.ts'

/** The steps repeated in every round: their figures are ratios and percentiles, judged on the median of the rounds. */
export type Round = {
  b1?: BareSubmitResult
  b2?: RawSendResult
  b4?: QueueBaselineResult
  s1?: SubmitResult
  s2?: EndToEndResult
  s3?: SlowTargetResult
  s5?: DispatchLatencyResult
  s11?: FlowKeysResult
}

export type Results = {
  rounds: Round[]
  b3?: RawBrokerResult
  s4?: MemoryResult
  s6?: LargeSubmissionsResult
  s7?: LargeAnswersResult
  s8?: CrashRecoveryResult
  s9?: LongPollResult
  s10?: ListPagesResult
}

/** One line of the table; a target is a ratio of this run's own baselines, n/a when that baseline did not run. */
export type Row = { id: string; measure: string; value: string; target: string; result: string }

// Same-run targets (the issue's): each scenario against the ceiling of the stage that bounds it.
export const TARGETS = {
  submitVsBare: 0.6,
  halfLoadP99Ms: 25,
  endToEndVsCeilings: 0.35,
  endToEndVsQueue: 1,
  slowVsConcurrency: 0.8,
  costPerTaskMs: 1,
  dispatchP50Ms: 10,
  dispatchP99Ms: 50,
  crashPauseMs: 10_000,
  taskerPeakMb: 250,
  serverPeakUnderLargeMb: 400,
  taskerPeakUnderLargeMb: 400,
  secondRoundGrowth: 1.1,
  longPollCpuPct: 5,
  longPollRssGrowthMb: 100,
  listGrowth: 2,
  flowKeysVsDrain: 0.9,
}

const perSecond = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`
const ms = (n: number) => `${n.toFixed(1)} ms`
const coreMs = (n: number) => n.toFixed(2)
const pct = (n: number) => `${Math.round(n * 100)}%`
const mb = (bytes: number) => `${toMb(bytes)} MB`
const count = (n: number) => n.toLocaleString('en-US')

/** The median, then the range over the rounds when there were several: `3,062/s (2,950–3,200/s)`. */
function withRange(s: Steady, format: (n: number) => string): string {
  return s.values.length < 2 ? format(s.median) : `${format(s.median)} (${range(s, format)})`
}

/** `2,950–3,200/s`: the unit ('/s', '%', ' ms') said once, after the range. */
function range(s: Steady, format: (n: number) => string): string {
  const [low, high] = [format(s.min), format(s.max)]
  const unit = /[^\d.]*$/.exec(high)![0]
  return `${low.endsWith(unit) ? low.slice(0, low.length - unit.length) : low}–${high}`
}

/** A figure over the rounds that have it. */
const over = (rounds: Round[], pick: (r: Round) => number | undefined) =>
  steady(rounds.map(pick).filter((v): v is number => v !== undefined))

/** PASS when the median ratio reaches `share`; the ratio reached follows, with its range over the rounds. */
function judgeShare(ratio: Steady | undefined, share: number): string {
  if (!ratio) return 'n/a' // the baseline did not run, or measured nothing
  const spread = ratio.values.length < 2 ? '' : `, ${range(ratio, pct)}`
  return `${ratio.median >= share ? 'PASS' : 'FAIL'} (${pct(ratio.median)}${spread})`
}

function judgeBelow(value: Steady | undefined, limit: number): string {
  if (!value) return 'n/a'
  return value.median < limit ? 'PASS' : 'FAIL'
}

export function buildRows(r: Results, sendConcurrency: number): Row[] {
  const rows: Row[] = []
  const add = (row: Row) => rows.push(row)
  const rounds = r.rounds
  const first = <K extends keyof Round>(key: K): Round[K] => rounds.find((round) => round[key])?.[key]

  const b1 = over(rounds, (x) => x.b1?.load.rate)
  const b1Shape = first('b1')
  if (b1 && b1Shape) {
    const measure = `bare Fastify + 1 INSERT, max req/s (${b1Shape.load.connections} connections)`
    add({ id: 'B1', measure, value: withRange(b1, perSecond), target: '', result: '' })
  }
  const b2 = over(rounds, (x) => x.b2?.rate)
  const b2Shape = first('b2')
  if (b2 && b2Shape) {
    const measure = `raw undici, ${b2Shape.inFlight} in flight / ${b2Shape.connections} sockets, req/s`
    add({ id: 'B2', measure, value: withRange(b2, perSecond), target: '', result: '' })
  }
  if (r.b3) {
    const shape = `${count(r.b3.messages)} × ${r.b3.messageBytes} B`
    const measure = `kafkajs produce, acks=all, idempotent, ${shape}`
    add({ id: 'B3', measure, value: perSecond(r.b3.produceRate), target: '', result: '' })
    add({ id: 'B3', measure: `kafkajs consume, ${shape}`, value: perSecond(r.b3.consumeRate), target: '', result: '' })
  }
  const b4 = over(rounds, (x) => x.b4?.rate)
  const b4Shape = first('b4')
  if (b4 && b4Shape) {
    const { batchSize, workers } = PG_BOSS_SETTINGS
    add({
      id: 'B4',
      measure: `pg-boss send() + no-op worker, ${count(b4Shape.jobs)} jobs (${b4Shape.senders} senders; batches of ${batchSize}, ${workers} fetch loops; send() alone ${perSecond(over(rounds, (x) => x.b4?.sendRate)!.median)})`,
      value: withRange(b4, perSecond),
      target: '',
      result: '',
    })
    const b4Cost = over(rounds, (x) => x.b4?.cost.sum)!
    const parts = Object.keys(b4Shape.cost.byProcess)
      .map((name) => `${name} ${coreMs(over(rounds, (x) => x.b4?.cost.byProcess[name])?.median ?? Number.NaN)}`)
      .join(', ')
    add({
      id: 'B4',
      measure: `CPU per job, core-ms (${parts})`,
      value: withRange(b4Cost, coreMs),
      target: '',
      result: '',
    })
  }

  const s1Shape = first('s1')
  if (s1Shape) {
    const s1 = over(rounds, (x) => x.s1?.max.rate)!
    const bare = b1 ? ` = ${perSecond(b1.median * TARGETS.submitVsBare)}` : ''
    add({
      id: 'S1',
      measure: `POST /tasks, max accepted req/s (${s1Shape.max.connections} connections)`,
      value: withRange(s1, perSecond),
      target: `≥ 60% of B1${bare}`,
      result: judgeShare(
        over(rounds, (x) => (x.s1 && x.b1 ? x.s1.max.rate / x.b1.load.rate : undefined)),
        TARGETS.submitVsBare,
      ),
    })
    const p50 = over(rounds, (x) => x.s1?.half.latencyMs.p50)!
    const p99 = over(rounds, (x) => x.s1?.half.latencyMs.p99)!
    const half = over(rounds, (x) => x.s1?.halfRate)!
    add({
      id: 'S1',
      measure: `p50 / p99 at half load (${perSecond(half.median)})`,
      value: `${ms(p50.median)} / ${withRange(p99, ms)}`,
      target: `p99 < ${TARGETS.halfLoadP99Ms} ms`,
      result: judgeBelow(p99, TARGETS.halfLoadP99Ms),
    })
  }

  const s2Shape = first('s2')
  if (s2Shape) {
    const ceilingOf = (x: Round) => (x.b1 && x.b2 ? Math.min(x.b1.load.rate, x.b2.rate) : undefined)
    const ceiling = over(rounds, ceilingOf)
    const floor = ceiling ? ` = ${perSecond(ceiling.median * TARGETS.endToEndVsCeilings)}` : ''
    const target = `≥ 35% of min(B1, B2)${floor}`
    const versus = (pick: (x: Round) => number | undefined) =>
      over(rounds, (x) => {
        const value = pick(x)
        const c = ceilingOf(x)
        return value !== undefined && c !== undefined ? value / c : undefined
      })
    add({
      id: 'S2',
      measure: `end to end, ${count(s2Shape.submit.accepted)} tasks, first POST → last done`,
      value: withRange(over(rounds, (x) => x.s2?.rate)!, perSecond),
      target,
      result: judgeShare(
        versus((x) => x.s2?.rate),
        TARGETS.endToEndVsCeilings,
      ),
    })
    const versusQueue = over(rounds, (x) => (x.s2 && x.b4 ? x.s2.rate / x.b4.rate : undefined))
    if (versusQueue) {
      add({
        id: 'S2',
        measure: 'end to end ÷ B4 (pg-boss) of the same round',
        value: withRange(versusQueue, pct),
        target: '≥ 100% (S2 ≥ B4)',
        result: versusQueue.median >= TARGETS.endToEndVsQueue ? 'PASS' : 'FAIL',
      })
    }
    const startup = over(rounds, (x) => x.s2?.drain.startupS)!
    add({
      id: 'S2',
      measure: `drain, ${count(s2Shape.drain.tasks)} queued, from tasker ready (start-up ${startup.median.toFixed(1)} s)`,
      value: withRange(over(rounds, (x) => x.s2?.drain.rate)!, perSecond),
      target,
      result: judgeShare(
        versus((x) => x.s2?.drain.rate),
        TARGETS.endToEndVsCeilings,
      ),
    })
    const cost = over(rounds, (x) => x.s2?.cost.sum)!
    const parts = COSTED.filter((name) => s2Shape.cost.byProcess[name] !== undefined)
    add({
      id: 'S2',
      measure: `CPU per task done, core-ms: ${parts.join(' + ')}`,
      value: withRange(cost, coreMs),
      target: `≤ ${TARGETS.costPerTaskMs.toFixed(1)} ms`,
      result: cost.median <= TARGETS.costPerTaskMs ? 'PASS' : 'FAIL',
    })
    add({
      id: 'S2',
      measure: `CPU per task done, each: ${parts.join(' / ')}`,
      value: parts
        .map((name) => coreMs(over(rounds, (x) => x.s2?.cost.byProcess[name])?.median ?? Number.NaN))
        .join(' / '),
      target: '',
      result: '',
    })
  }

  const s3Shape = first('s3')
  if (s3Shape) {
    const target = `≥ 80% of ${sendConcurrency} / ${s3Shape.delayMs / 1000} s = ${perSecond(s3Shape.ideal * TARGETS.slowVsConcurrency)}`
    add({
      id: 'S3',
      measure: `slow target (${s3Shape.delayMs} ms), one origin, done/s`,
      value: withRange(over(rounds, (x) => x.s3?.oneOrigin.rate)!, perSecond),
      target,
      result: judgeShare(
        over(rounds, (x) => (x.s3 ? x.s3.oneOrigin.rate / x.s3.ideal : undefined)),
        TARGETS.slowVsConcurrency,
      ),
    })
    if (s3Shape.manyOrigins) {
      add({
        id: 'S3',
        measure: `slow target (${s3Shape.delayMs} ms), ${s3Shape.manyOrigins.origins} origins, done/s`,
        value: withRange(over(rounds, (x) => x.s3?.manyOrigins?.rate)!, perSecond),
        target,
        result: judgeShare(
          over(rounds, (x) => (x.s3?.manyOrigins ? x.s3.manyOrigins.rate / x.s3.ideal : undefined)),
          TARGETS.slowVsConcurrency,
        ),
      })
    }
  }
  if (r.s4) {
    const firstRound = r.s4.rounds[0]
    const last = r.s4.rounds.length > 1 ? r.s4.rounds.at(-1) : undefined
    if (firstRound) {
      add({
        id: 'S4',
        measure: `tasker peak RSS, ${count(firstRound.tasks)} tasks vs slow target, round 1`,
        value: mb(firstRound.peakRssBytes),
        target: `< ${TARGETS.taskerPeakMb} MB`,
        result: toMb(firstRound.peakRssBytes) < TARGETS.taskerPeakMb ? 'PASS' : 'FAIL',
      })
    }
    if (firstRound && last) {
      const ceiling = firstRound.peakRssBytes * TARGETS.secondRoundGrowth
      add({
        id: 'S4',
        measure: `tasker peak RSS, same process, round ${r.s4.rounds.length}`,
        value: mb(last.peakRssBytes),
        target: `≤ round 1 + 10% = ${mb(ceiling)}`,
        result: last.peakRssBytes <= ceiling ? 'PASS' : 'FAIL',
      })
    }
  }
  const serverPeak = over(rounds, (x) => x.s1?.serverPeakRssBytes)
  if (serverPeak) {
    add({ id: 'S4', measure: 'server peak RSS under S1', value: mb(serverPeak.max), target: '', result: '' })
  }

  const s5Shape = first('s5')
  if (s5Shape) {
    s5Shape.phases.forEach((phase, i) => {
      const pick = (f: (p: DispatchPhase) => number) =>
        over(rounds, (x) => (x.s5?.phases[i] ? f(x.s5.phases[i]) : undefined))
      const p50 = pick((p) => p.dispatchMs.p50)!
      const p90 = pick((p) => p.dispatchMs.p90)!
      const p99 = pick((p) => p.dispatchMs.p99)!
      const max = pick((p) => p.dispatchMs.max)!
      const rate = pick((p) => p.rate)!
      const judged = i === s5Shape.phases.length - 1 // the issue's target is at the higher load
      add({
        id: 'S5',
        measure: `201 → target, ${pct(phase.share)} of S2 (${perSecond(rate.median)}, open loop): p50 / p90 / p99 / max`,
        value: `${withRange(p50, ms)} / ${ms(p90.median)} / ${withRange(p99, ms)} / ${ms(max.median)}`,
        target: judged ? `p50 < ${TARGETS.dispatchP50Ms} ms, p99 < ${TARGETS.dispatchP99Ms} ms` : '',
        result: judged
          ? p50.median < TARGETS.dispatchP50Ms && p99.median < TARGETS.dispatchP99Ms
            ? 'PASS'
            : 'FAIL'
          : '',
      })
    })
    const lost = over(rounds, (x) => x.s5?.phases.reduce((n, p) => n + p.missing, 0))!
    const twice = over(rounds, (x) => x.s5?.phases.reduce((n, p) => n + p.sentTwice, 0))!
    add({
      id: 'S5',
      measure: 'tasks never sent / sent twice, all rounds',
      value: `${lost.values.reduce((a, b) => a + b, 0)} / ${twice.values.reduce((a, b) => a + b, 0)}`,
      target: '0 / 0',
      result: lost.max === 0 && twice.max === 0 ? 'PASS' : 'FAIL',
    })
  }
  if (r.s6) {
    const { load } = r.s6
    const size = `${Math.round(r.s6.bodyBytes / 1000).toLocaleString('en-US')} kB`
    add({
      id: 'S6',
      measure: `server peak RSS, ${load.connections} clients × ${size} submissions, ${load.durationS} s`,
      value: mb(r.s6.serverPeakRssBytes),
      target: `< ${TARGETS.serverPeakUnderLargeMb} MB`,
      result: toMb(r.s6.serverPeakRssBytes) < TARGETS.serverPeakUnderLargeMb ? 'PASS' : 'FAIL',
    })
    add({
      id: 'S6',
      measure: `accepted / shed (503) / errors in S6`,
      value: `${perSecond(load.rate)}, ${count(load.accepted)} / ${count(load.non2xx)} / ${load.errors + load.timeouts}`,
      target: '',
      result: '',
    })
  }
  if (r.s7) {
    const shape = `${count(r.s7.tasks)} × ${r.s7.answerBytes / 1024} KiB answers`
    add({
      id: 'S7',
      measure: `large-answer drain, ${shape}: sent twice / tasker peak RSS`,
      value: `${r.s7.sentTwice} / ${mb(r.s7.peakRssBytes)}`,
      target: `0 / < ${TARGETS.taskerPeakUnderLargeMb} MB`,
      result: r.s7.sentTwice === 0 && toMb(r.s7.peakRssBytes) < TARGETS.taskerPeakUnderLargeMb ? 'PASS' : 'FAIL',
    })
    add({ id: 'S7', measure: `large-answer drain, done/s`, value: perSecond(r.s7.rate), target: '', result: '' })
  }
  if (r.s8) {
    const seconds = (n: number) => `${(n / 1000).toFixed(1)} s`
    add({
      id: 'S8',
      measure: `no sends after kill -9 of the only tasker + restart, ${r.s8.rate}/s submitted (session ${seconds(r.s8.sessionTimeoutMs)})`,
      value: seconds(r.s8.pauseMs),
      target: `< ${seconds(TARGETS.crashPauseMs)}`,
      result: r.s8.pauseMs < TARGETS.crashPauseMs ? 'PASS' : 'FAIL',
    })
    add({
      id: 'S8',
      measure: `tasks lost / sent twice (in flight at the kill) / longest 201 → target`,
      value: `${r.s8.lost} / ${r.s8.sentTwice} / ${seconds(r.s8.maxDispatchMs)}`,
      target: '0 lost',
      result: r.s8.lost === 0 ? 'PASS' : 'FAIL',
    })
  }
  if (r.s9) {
    const { waiters, holdS, idle, waiting, wakeMs } = r.s9
    const n = waiters.toLocaleString('en-US')
    add({
      id: 'S9',
      measure: `server CPU with ${n} long-polls waiting, ${holdS} s (idle: ${idle.cpuPctOfCore}%)`,
      value: `${waiting.cpuPctOfCore}% of a core`,
      target: `< ${TARGETS.longPollCpuPct}%`,
      result: waiting.cpuPctOfCore < TARGETS.longPollCpuPct ? 'PASS' : 'FAIL',
    })
    const growthMb = toMb(waiting.peakRssBytes - idle.rssBytes)
    add({
      id: 'S9',
      measure: `server RSS with ${n} waiting (idle: ${mb(idle.rssBytes)}), peak`,
      value: mb(waiting.peakRssBytes),
      target: `< idle + ${TARGETS.longPollRssGrowthMb} MB`,
      result: growthMb < TARGETS.longPollRssGrowthMb ? 'PASS' : 'FAIL',
    })
    add({
      id: 'S9',
      measure: `database commits while ${n} wait ${holdS} s (idle: ${idle.databaseCommits}); 503s while opening them`,
      value: `${waiting.databaseCommits}; ${r.s9.shedDuringRamp}`,
      target: '',
      result: '',
    })
    add({
      id: 'S9',
      measure: `one statement ends all ${n}: answered after, p50 / p99 / max`,
      value: `${wakeMs.p50} / ${wakeMs.p99} / ${Math.round(wakeMs.max)} ms`,
      target: `all ${n} answered done`,
      result: r.s9.answeredDone === waiters ? 'PASS' : 'FAIL',
    })
  }
  if (r.s10) {
    const { small, large } = r.s10
    const rowsOf = (p: { rows: number }) => p.rows.toLocaleString('en-US')
    for (const [key, what] of [
      ['newest', 'newest page'],
      ['deep', 'page 5 cursors deep'],
      ['rareStatus', 'status=error (5 %)'],
      ['destination', 'destination (1 of 100)'],
    ] as const) {
      add({
        id: 'S10',
        measure: `GET /tasks, 100 per page, ${what}: ${rowsOf(small)} → ${rowsOf(large)} rows`,
        value: `${small[key]} → ${large[key]} ms`,
        target: `≤ ${TARGETS.listGrowth}× (flat)`,
        result: large[key] <= Math.max(small[key] * TARGETS.listGrowth, 2) ? 'PASS' : 'FAIL',
      })
    }
  }
  const s11 = first('s11')
  if (s11) {
    const { rate, periodMs, burst, parallelism } = s11.limits
    add({
      id: 'S11',
      measure: `drain, ${count(s11.tasks)} queued over ${s11.keys} flow-control keys each limited (${rate}/${periodMs} ms, burst ${burst}, parallelism ${parallelism})`,
      value: withRange(over(rounds, (x) => x.s11?.rate)!, perSecond),
      target: '≥ 90% of S2 drain',
      result: judgeShare(
        over(rounds, (x) => (x.s11 && x.s2 ? x.s11.rate / x.s2.drain.rate : undefined)),
        TARGETS.flowKeysVsDrain,
      ),
    })
  }
  return rows
}

/** Steps that ran but completed nothing: with a crash, the only outcome that fails a run. */
export function emptySteps(r: Results): string[] {
  const empty: string[] = []
  r.rounds.forEach((x, i) => {
    const of = r.rounds.length > 1 ? ` round ${i + 1}` : ''
    const checks: Array<[string, boolean]> = [
      ['b1', x.b1 !== undefined && x.b1.load.accepted === 0],
      ['b2', x.b2 !== undefined && x.b2.rate === 0],
      ['b4', x.b4 !== undefined && x.b4.rate === 0],
      ['s1', x.s1 !== undefined && (x.s1.max.accepted === 0 || x.s1.half.accepted === 0)],
      ['s2', x.s2 !== undefined && (x.s2.done === 0 || x.s2.drain.done === 0)],
      ['s3', x.s3 !== undefined && (x.s3.oneOrigin.done === 0 || x.s3.manyOrigins?.done === 0)],
      ['s5', x.s5?.phases.some((p) => p.dispatchMs.count === 0) === true],
      ['s11', x.s11 !== undefined && x.s11.done === 0],
    ]
    for (const [id, isEmpty] of checks) if (isEmpty) empty.push(`${id}${of}`)
  })
  const once: Array<[string, boolean]> = [
    ['b3', r.b3 !== undefined && (r.b3.produceRate === 0 || r.b3.consumeRate === 0)],
    ['s4', r.s4 !== undefined && r.s4.rounds.length === 0],
    ['s6', r.s6 !== undefined && r.s6.load.accepted === 0],
    ['s7', r.s7 !== undefined && r.s7.rate === 0],
    ['s8', r.s8 !== undefined && r.s8.accepted === 0],
    ['s9', r.s9 !== undefined && r.s9.answeredDone === 0],
  ]
  for (const [id, isEmpty] of once) if (isEmpty) empty.push(id)
  return empty
}

/** Where the CPU went in the phases that load the whole machine, round by round. */
export function formatCpuLines(r: Results): string {
  const lines: string[] = []
  r.rounds.forEach((x, i) => {
    const of = r.rounds.length > 1 ? `, round ${i + 1}` : ''
    if (x.b1) lines.push(formatCpuUse(`CPU, B1${of}`, x.b1.cpu))
    if (x.s1) lines.push(formatCpuUse(`CPU, S1 at max${of}`, x.s1.cpu))
    if (x.s2) lines.push(formatCpuUse(`CPU, S2 end to end${of}`, x.s2.cpu))
    if (x.b4) lines.push(formatCpuUse(`CPU, B4 pg-boss${of}`, x.b4.cpu))
  })
  return lines.join('\n')
}

/** Where S5's dispatch time went (see support/dispatch-stages.ts), phase by phase: p50 / p99 of each stage. */
export function formatDispatchLines(r: Results): string {
  const lines: string[] = []
  r.rounds.forEach((x, i) => {
    const of = r.rounds.length > 1 ? `, round ${i + 1}` : ''
    for (const p of x.s5?.phases ?? []) {
      const stage = (name: string, q: { p50: number; p99: number }) => `${name} ${ms(q.p50)} / ${ms(q.p99)}`
      const { relayMs, kafkaMs, sendMs } = p.stages
      lines.push(
        `S5 at ${perSecond(p.rate)}${of}, p50 / p99: ${stage('201 → produced', relayMs)}; ${stage('produced → claim', kafkaMs)}; ${stage('claim → target', sendMs)}; total ${ms(p.dispatchMs.p50)} / ${ms(p.dispatchMs.p99)}`,
      )
    }
  })
  return lines.join('\n')
}

export function formatTable(rows: Row[]): string {
  const header: Row = { id: 'ID', measure: 'Measure', value: 'Value', target: 'Target', result: '' }
  const cells = [header, ...rows].map((r) => [
    r.id,
    r.measure,
    r.value,
    r.target,
    r.result || (r === header ? 'Result' : ''),
  ])
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)))
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n')
}

export function formatEnvironment(env: Environment, settings: Record<string, unknown>): string {
  const { machine, postgres, kafka } = env
  return [
    `machine   ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Linux ${machine.kernel}`,
    `node      ${env.node}`,
    `postgres  ${postgres.version}`,
    `          fsync=${postgres.fsync}, synchronous_commit=${postgres.synchronousCommit}, wal_sync_method=${postgres.walSyncMethod}`,
    `kafka     ${kafka.version}; producer ${kafka.producer}`,
    `          broker ${Object.entries(kafka.brokerSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
    `apps      ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  ].join('\n')
}

export async function writeResults(paths: string[], data: object): Promise<void> {
  const json = `${JSON.stringify(data, null, 2)}\n`
  for (const path of paths) {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, json)
  }
}
