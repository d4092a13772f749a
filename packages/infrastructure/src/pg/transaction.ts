import type pg from 'pg'

/**
 * Runs `work` in one transaction on a connection of its own: commit when it resolves, rollback when it throws. A
 * connection lost meanwhile emits 'error' on the checked-out client, which nobody else listens to and which would
 * otherwise end the process; such a connection is discarded, not given back to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error) => {
    broken = err
  }
  client.on('error', onError)
  try {
    await client.query('begin')
    const result = await work(client)
    await client.query('commit')
    return result
  } catch (err) {
    await client.query('rollback').catch((e: Error) => {
      broken = e
    })
    throw err
  } finally {
    client.off('error', onError)
    client.release(broken) // a truthy argument makes the pool discard the connection instead of reusing it
  }
}
