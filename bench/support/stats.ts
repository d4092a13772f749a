/** A figure taken once per round: the median is what the table judges, the range shows how much the rounds agreed. */
export type Steady = { median: number; min: number; max: number; values: number[] }

export function steady(values: number[]): Steady | undefined {
  const finite = values.filter(Number.isFinite)
  if (finite.length === 0) return undefined
  const sorted = [...finite].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted.at(-1)!, values: finite }
}

export type Percentiles = { count: number; p50: number; p90: number; p99: number; max: number }

/** Nearest-rank percentiles of raw samples (no histogram buckets): p99 of 1,000 samples is the 990th smallest. */
export function percentiles(samples: number[]): Percentiles {
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!)
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) }
}
