import { readFileSync, writeFileSync } from 'node:fs'

const MB = 1024 * 1024

/** A `Vm*` line of /proc/<pid>/status, in bytes. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no ${field} for pid ${pid}`)
  return Number(match[1]) * 1024
}

/**
 * Tracks a process's peak RSS over one phase. The kernel's own peak (VmHWM) is reset first where it allows
 * (`5` to clear_refs), so a second phase is not masked by the first; 100 ms samples of VmRSS back it up.
 */
export function trackPeakRss(pid: number, everyMs = 100): { stop(): number } {
  let hwmReset = true
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
  } catch {
    hwmReset = false
  }
  // Once the process is gone its figures read as 0: the scenario's own liveness check reports the death.
  const read = (field: 'VmRSS' | 'VmHWM') => {
    try {
      return procStatusBytes(pid, field)
    } catch {
      return 0
    }
  }
  let peak = procStatusBytes(pid, 'VmRSS')
  const timer = setInterval(() => {
    peak = Math.max(peak, read('VmRSS'))
  }, everyMs)
  let result: number | undefined
  return {
    /** The peak in bytes; later calls answer the same figure. */
    stop() {
      clearInterval(timer)
      result ??= Math.max(peak, read('VmRSS'), hwmReset ? read('VmHWM') : 0)
      return result
    },
  }
}

export const toMb = (bytes: number) => Math.round((bytes / MB) * 10) / 10
