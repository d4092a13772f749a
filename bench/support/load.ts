import autocannon from 'autocannon'

export type LoadResult = {
  /** 2xx answers per second of the run. */
  rate: number
  accepted: number
  non2xx: number
  errors: number
  timeouts: number
  durationS: number
  connections: number
  latencyMs: { p50: number; p90: number; p99: number; max: number }
}

export type PostLoad = {
  url: string
  body: string
  headers?: Record<string, string>
  connections: number
  /** Seconds to run, unless `amount` is given. */
  durationS?: number
  /** Requests to send in all; the run ends when they are answered. */
  amount?: number
  /** Requests per second across all connections; latencies are corrected for coordinated omission. */
  overallRate?: number
}

/** POSTs the same JSON body over and over with autocannon, from this process. */
export async function postLoad(load: PostLoad): Promise<LoadResult> {
  const result = await autocannon({
    url: load.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...load.headers },
    body: load.body,
    connections: load.connections,
    ...(load.amount === undefined ? { duration: load.durationS ?? 10 } : { amount: load.amount }),
    ...(load.overallRate === undefined ? {} : { overallRate: load.overallRate }),
    timeout: 30,
  })
  const accepted = result['2xx']
  return {
    rate: accepted / result.duration,
    accepted,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
    connections: load.connections,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
  }
}
