// B4's two processes, as an application using pg-boss runs them: `node bench/baselines/pg-boss-client.ts work`
// completes every job of QUEUE with a handler that does nothing; `… send` waits for SIGUSR2, then sends JOBS jobs
// through `send()`, SENDERS at a time, and prints when the first and the last went. Both stop on SIGTERM: the
// harness reads their CPU time before. Env: DATABASE_URL, QUEUE, JOBS, SENDERS, POOL_MAX, BATCH_SIZE, WORKERS, DATA
// (each job's payload, JSON).
import { PgBoss } from 'pg-boss'

const role = process.argv[2]
const env = (name: string) => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const queue = env('QUEUE')
// Polling every 0.5 s (its floor) with bursts while fetches come back full, and no LISTEN/NOTIFY: pg-boss's fastest
// way through a stream of jobs here. With `useListenNotify` and a `notify` queue it did 291 and 298 jobs/s, against 733
// and 831 without, runs taken in turn: each send's NOTIFY takes Postgres's notification lock at commit, one at a time.
const boss = new PgBoss({ connectionString: env('DATABASE_URL'), max: Number(env('POOL_MAX')) })
boss.on('error', (err) => console.error(JSON.stringify({ msg: 'pg-boss error', err: String(err) })))
await boss.start()

if (role === 'work') {
  await boss.createQueue(queue)
  await boss.work(
    queue,
    {
      batchSize: Number(env('BATCH_SIZE')),
      localConcurrency: Number(env('WORKERS')),
      pollingIntervalSeconds: 0.5,
      // While fetches come back full there is more: fetch again at once rather than after the polling interval.
      burstWhenBatchFull: true,
    },
    async () => {},
  )
  console.log(JSON.stringify({ msg: 'working' }))
} else if (role === 'send') {
  const jobs = Number(env('JOBS'))
  const data = JSON.parse(env('DATA')) as object
  console.log(JSON.stringify({ msg: 'ready' }))
  await new Promise((resolve) => process.once('SIGUSR2', resolve))
  const firstMs = Date.now()
  let left = jobs
  const sender = async () => {
    while (left > 0) {
      left--
      await boss.send(queue, data)
    }
  }
  await Promise.all(Array.from({ length: Number(env('SENDERS')) }, sender))
  console.log(JSON.stringify({ msg: 'sent', firstMs, lastMs: Date.now() }))
} else {
  throw new Error(`unknown role ${role}: work or send`)
}

process.once('SIGTERM', async () => {
  await boss.stop({ graceful: true })
  process.exit(0)
})
