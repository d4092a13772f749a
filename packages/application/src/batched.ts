/**
 * Turns a function over many inputs into one over a single input, batching the calls that overlap: the first
 * call runs at once, and the calls made while a batch runs go together in the next one. Each caller's promise
 * settles with the batch that carried its input. `run` returns one output per input, in order.
 */
export function batched<In, Out>(run: (inputs: In[]) => Promise<Out[]>, maxBatch: number): (input: In) => Promise<Out> {
  type Queued = { input: In; resolve: (out: Out) => void; reject: (err: unknown) => void }
  const queue: Queued[] = []
  let running = false

  async function drain() {
    running = true
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch)
      try {
        const outputs = await run(batch.map((q) => q.input))
        for (const [i, q] of batch.entries()) q.resolve(outputs[i]!)
      } catch (err) {
        for (const q of batch) q.reject(err)
      }
    }
    running = false
  }

  return (input) =>
    new Promise<Out>((resolve, reject) => {
      queue.push({ input, resolve, reject })
      if (!running) void drain()
    })
}
