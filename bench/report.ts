import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { BareSubmitResult } from './baselines/bare-submit.ts'
import type { RawBrokerResult } from './baselines/raw-broker.ts'
import type { RawSendResult } from './baselines/raw-send.ts'
import type { EndToEndResult } from './scenarios/end-to-end.ts'
import type { LargeSubmissionsResult } from './scenarios/large-submissions.ts'
import type { ListPagesResult } from './scenarios/list-pages.ts'
import type { LongPollResult } from './scenarios/long-poll.ts'
import type { MemoryResult } from './scenarios/memory.ts'
import type { SlowTargetResult } from './scenarios/slow-target.ts'
import type { SubmitResult } from './scenarios/submit.ts'
import { formatCpuUse } from './support/cpu.ts'
import type { Environment } from './support/environment.ts'
import { toMb } from './support/memory.ts'

export type Results = {
  b1?: BareSubmitResult
  b2?: RawSendResult
  b3?: RawBrokerResult
  s1?: SubmitResult
  s2?: EndToEndResult
  s3?: SlowTargetResult
  s4?: MemoryResult
  s6?: LargeSubmissionsResult
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
  slowVsConcurrency: 0.8,
  taskerPeakMb: 250,
  serverPeakUnderLargeMb: 400,
  secondRoundGrowth: 1.1,
  longPollCpuPct: 5,
  longPollRssGrowthMb: 100,
  listGrowth: 2,
}

const perSecond = (n: number) => `${Math.round(n).toLocaleString('en-US')}/s`
const ms = (n: number) => `${n.toFixed(1)} ms`
const mb = (bytes: number) => `${toMb(bytes)} MB`

/** PASS when `value` reaches `share` of `reference`; the share it did reach follows, as the target is worded. */
function shareOf(value: number, reference: number | undefined, share: number): string {
  if (!reference) return 'n/a' // the baseline did not run, or measured nothing
  return `${value >= reference * share ? 'PASS' : 'FAIL'} (${Math.round((value / reference) * 100)}%)`
}

export function buildRows(r: Results, sendConcurrency: number): Row[] {
  const rows: Row[] = []
  const add = (row: Row) => rows.push(row)
  if (r.b1) {
    add({
      id: 'B1',
      measure: `bare Fastify + 1 INSERT, max req/s (${r.b1.load.connections} connections)`,
      value: perSecond(r.b1.load.rate),
      target: '',
      result: '',
    })
  }
  if (r.b2) {
    const measure = `raw undici, ${r.b2.inFlight} in flight / ${r.b2.connections} sockets, req/s`
    add({ id: 'B2', measure, value: perSecond(r.b2.rate), target: '', result: '' })
  }
  if (r.b3) {
    const shape = `${r.b3.messages.toLocaleString('en-US')} × ${r.b3.messageBytes} B`
    add({
      id: 'B3',
      measure: `kafkajs produce, acks=all, idempotent, ${shape}`,
      value: perSecond(r.b3.produceRate),
      target: '',
      result: '',
    })
    add({ id: 'B3', measure: `kafkajs consume, ${shape}`, value: perSecond(r.b3.consumeRate), target: '', result: '' })
  }
  if (r.s1) {
    const bare = r.b1?.load.rate
    add({
      id: 'S1',
      measure: `POST /tasks, max accepted req/s (${r.s1.max.connections} connections)`,
      value: perSecond(r.s1.max.rate),
      target: `≥ 60% of B1${bare === undefined ? '' : ` = ${perSecond(bare * TARGETS.submitVsBare)}`}`,
      result: shareOf(r.s1.max.rate, bare, TARGETS.submitVsBare),
    })
    const { p50, p99 } = r.s1.half.latencyMs
    add({
      id: 'S1',
      measure: `p50 / p99 at half load (${perSecond(r.s1.halfRate)})`,
      value: `${ms(p50)} / ${ms(p99)}`,
      target: `p99 < ${TARGETS.halfLoadP99Ms} ms`,
      result: p99 < TARGETS.halfLoadP99Ms ? 'PASS' : 'FAIL',
    })
  }
  if (r.s2) {
    const ceiling = r.b1 && r.b2 ? Math.min(r.b1.load.rate, r.b2.rate) : undefined
    const floor = ceiling === undefined ? '' : ` = ${perSecond(ceiling * TARGETS.endToEndVsCeilings)}`
    const target = `≥ 35% of min(B1, B2)${floor}`
    const n = r.s2.submit.accepted.toLocaleString('en-US')
    add({
      id: 'S2',
      measure: `end to end, ${n} tasks, first POST → last done`,
      value: perSecond(r.s2.rate),
      target,
      result: shareOf(r.s2.rate, ceiling, TARGETS.endToEndVsCeilings),
    })
    add({
      id: 'S2',
      measure: `drain, ${r.s2.drain.tasks.toLocaleString('en-US')} queued, from tasker ready (start-up ${r.s2.drain.startupS.toFixed(1)} s)`,
      value: perSecond(r.s2.drain.rate),
      target,
      result: shareOf(r.s2.drain.rate, ceiling, TARGETS.endToEndVsCeilings),
    })
  }
  if (r.s3) {
    const target = `≥ 80% of ${sendConcurrency} / ${r.s3.delayMs / 1000} s = ${perSecond(r.s3.ideal * TARGETS.slowVsConcurrency)}`
    add({
      id: 'S3',
      measure: `slow target (${r.s3.delayMs} ms), one origin, done/s`,
      value: perSecond(r.s3.oneOrigin.rate),
      target,
      result: shareOf(r.s3.oneOrigin.rate, r.s3.ideal, TARGETS.slowVsConcurrency),
    })
    if (r.s3.manyOrigins) {
      add({
        id: 'S3',
        measure: `slow target (${r.s3.delayMs} ms), ${r.s3.manyOrigins.origins} origins, done/s`,
        value: perSecond(r.s3.manyOrigins.rate),
        target,
        result: shareOf(r.s3.manyOrigins.rate, r.s3.ideal, TARGETS.slowVsConcurrency),
      })
    }
  }
  if (r.s4) {
    const first = r.s4.rounds[0]
    const last = r.s4.rounds.length > 1 ? r.s4.rounds.at(-1) : undefined
    if (first) {
      const tasks = first.tasks.toLocaleString('en-US')
      add({
        id: 'S4',
        measure: `tasker peak RSS, ${tasks} tasks vs slow target, round 1`,
        value: mb(first.peakRssBytes),
        target: `< ${TARGETS.taskerPeakMb} MB`,
        result: toMb(first.peakRssBytes) < TARGETS.taskerPeakMb ? 'PASS' : 'FAIL',
      })
    }
    if (first && last) {
      const ceiling = first.peakRssBytes * TARGETS.secondRoundGrowth
      add({
        id: 'S4',
        measure: `tasker peak RSS, same process, round ${r.s4.rounds.length}`,
        value: mb(last.peakRssBytes),
        target: `≤ round 1 + 10% = ${mb(ceiling)}`,
        result: last.peakRssBytes <= ceiling ? 'PASS' : 'FAIL',
      })
    }
  }
  if (r.s1) {
    add({ id: 'S4', measure: 'server peak RSS under S1', value: mb(r.s1.serverPeakRssBytes), target: '', result: '' })
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
      value: `${perSecond(load.rate)}, ${load.accepted.toLocaleString('en-US')} / ${load.non2xx.toLocaleString('en-US')} / ${load.errors + load.timeouts}`,
      target: '',
      result: '',
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
  return rows
}

/** Steps that ran but completed nothing: with a crash, the only outcome that fails a run. */
export function emptySteps(r: Results): string[] {
  const empty: Array<[keyof Results, boolean]> = [
    ['b1', r.b1 !== undefined && r.b1.load.accepted === 0],
    ['b2', r.b2 !== undefined && r.b2.rate === 0],
    ['b3', r.b3 !== undefined && (r.b3.produceRate === 0 || r.b3.consumeRate === 0)],
    ['s1', r.s1 !== undefined && (r.s1.max.accepted === 0 || r.s1.half.accepted === 0)],
    ['s2', r.s2 !== undefined && (r.s2.done === 0 || r.s2.drain.done === 0)],
    ['s3', r.s3 !== undefined && (r.s3.oneOrigin.done === 0 || r.s3.manyOrigins?.done === 0)],
    ['s4', r.s4 !== undefined && r.s4.rounds.length === 0],
    ['s6', r.s6 !== undefined && r.s6.load.accepted === 0],
    ['s9', r.s9 !== undefined && r.s9.answeredDone === 0],
  ]
  return empty.filter(([, isEmpty]) => isEmpty).map(([id]) => id)
}

/** Where the CPU went in the phases that load the whole machine. */
export function formatCpuLines(r: Results): string {
  const lines: string[] = []
  if (r.b1) lines.push(formatCpuUse('CPU, B1', r.b1.cpu))
  if (r.s1) lines.push(formatCpuUse('CPU, S1 at max', r.s1.cpu))
  if (r.s2) lines.push(formatCpuUse('CPU, S2 end to end', r.s2.cpu))
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
