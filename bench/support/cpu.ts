import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

// Linux reports CPU time in clock ticks; USER_HZ is 100 on every architecture Node supports.
const TICKS_PER_SECOND = 100
const KAFKA_PID_FILE = fileURLToPath(new URL('../../.local/kafka/kafka.pid', import.meta.url))

/** CPU seconds (user + system) per process or group, and the machine's busy and total core-seconds. */
export type CpuSnapshot = Record<string, number>

/**
 * Where a phase's CPU went: the processes named, the bench's Postgres (its postmaster and every process under it),
 * the local Kafka broker, this harness (autocannon runs in it), interrupts, and whatever else ran on the machine
 * meanwhile (`other`: another engineer's Postgres included). On a small machine this is what explains a stage running
 * below its ceiling: the ceilings were measured alone, the scenario shares cores.
 */
export function cpuSnapshot(pids: Record<string, number>, postmasterPid: number | null): CpuSnapshot {
  const snapshot: CpuSnapshot = {}
  for (const [name, pid] of Object.entries(pids)) snapshot[name] = processSeconds(pid)
  if (postmasterPid !== null) snapshot.postgres = postgresSeconds(postmasterPid)
  const kafka = kafkaPid()
  if (kafka !== null) snapshot.kafka = processSeconds(kafka)
  const own = process.cpuUsage()
  snapshot.harness = (own.user + own.system) / 1e6
  Object.assign(snapshot, machineSeconds())
  return snapshot
}

export type CpuUse = { wallS: number; coreSeconds: number; byProcess: Record<string, number>; idle: number }

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, wallS: number): CpuUse {
  const delta = (key: string) => Math.max(0, (after[key] ?? 0) - (before[key] ?? 0))
  const byProcess: Record<string, number> = {}
  for (const key of Object.keys(after)) if (!key.startsWith('machine')) byProcess[key] = round(delta(key))
  byProcess.interrupts = round(delta('machineIrq'))
  const known = Object.values(byProcess).reduce((a, b) => a + b, 0)
  byProcess.other = round(Math.max(0, delta('machineBusy') - known))
  const coreSeconds = delta('machineTotal')
  return {
    wallS: round(wallS),
    coreSeconds: round(coreSeconds),
    byProcess,
    idle: round(coreSeconds - delta('machineBusy')),
  }
}

// Past this share of the machine, something outside the bench ran alongside it and the figures are not clean.
const OTHER_WARNING_SHARE = 0.1

export function formatCpuUse(label: string, use: CpuUse): string {
  const parts = Object.entries(use.byProcess)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s.toFixed(1)}`)
  const line = `${label}: ${use.wallS.toFixed(1)} s wall, ${use.coreSeconds.toFixed(1)} core-s: ${parts.join(', ')}, idle ${use.idle.toFixed(1)}`
  const other = use.byProcess.other ?? 0
  if (other <= use.coreSeconds * OTHER_WARNING_SHARE) return line
  return `${line}\n  WARNING: ${Math.round((other / use.coreSeconds) * 100)}% of the machine went to processes outside the bench: rerun on a quiet machine`
}

// Clock ticks are 10 ms: two decimals keep every tick.
const round = (n: number) => Math.round(n * 100) / 100

/** utime + stime of a process, and cutime + cstime: the time of its children that exited and were reaped. */
function processTimes(pid: number): { own: number; reapedChildren: number; ppid: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name, which is in parentheses and may hold spaces: ppid is the 4th field of the
    // line, utime, stime, cutime and cstime the 14th to 17th.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    return {
      own: (fields[11]! + fields[12]!) / TICKS_PER_SECOND,
      reapedChildren: (fields[13]! + fields[14]!) / TICKS_PER_SECOND,
      ppid: fields[1]!,
    }
  } catch {
    return { own: 0, reapedChildren: 0, ppid: 0 } // gone since the snapshot before: its time is lost, not wrong
  }
}

const processSeconds = (pid: number) => processTimes(pid).own

/**
 * The postmaster and every process it started, plus what it reaped: backends that closed during the phase (a pool
 * dropping an idle connection, an autovacuum worker) would otherwise take their time with them. Other Postgres
 * servers on the machine (another checkout's) are not ours to count.
 */
function postgresSeconds(postmasterPid: number): number {
  const postmaster = processTimes(postmasterPid)
  const children = childPids(postmasterPid).map(processTimes)
  return postmaster.own + postmaster.reapedChildren + children.reduce((sum, t) => sum + t.own, 0)
}

function childPids(parent: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    if (processTimes(Number(entry)).ppid === parent) pids.push(Number(entry))
  }
  return pids
}

/**
 * The postmaster of the server at `databaseUrl`: the parent of the backend that answers. Null when that server runs
 * on another machine (its processes are not in this /proc): its CPU is then not measured, rather than guessed.
 */
export async function postmasterOf(databaseUrl: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
    const ppid = processTimes(rows[0]!.pid).ppid
    return ppid > 0 && readComm(ppid) === 'postgres' ? ppid : null
  } finally {
    await client.end()
  }
}

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return null
  }
}

function kafkaPid(): number | null {
  try {
    return Number(readFileSync(KAFKA_PID_FILE, 'utf8').trim())
  } catch {
    return null
  }
}

// Interrupt time (loopback TCP runs largely in softirq) is charged to no process, so it is counted on its own.
function machineSeconds(): { machineBusy: number; machineIrq: number; machineTotal: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks.map(Number) as number[]
  const busy = user! + nice! + system! + irq! + softirq! + steal!
  return {
    machineBusy: busy / TICKS_PER_SECOND,
    machineIrq: (irq! + softirq!) / TICKS_PER_SECOND,
    machineTotal: (busy + idle! + iowait!) / TICKS_PER_SECOND,
  }
}

/** Core-milliseconds per task of each process named, and their sum: what a deployment pays per task. */
export type CostPerTask = { byProcess: Record<string, number>; sum: number }

export function costPerTask(use: CpuUse, tasks: number, processes: string[]): CostPerTask {
  const byProcess: Record<string, number> = {}
  for (const name of processes) {
    const seconds = use.byProcess[name]
    if (seconds !== undefined) byProcess[name] = (seconds * 1000) / tasks
  }
  return { byProcess, sum: Object.values(byProcess).reduce((a, b) => a + b, 0) }
}
