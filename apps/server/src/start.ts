// The entry point. It checks the Node.js version before main.js and the libraries main.js imports are loaded: on an
// older Node, undici fails while being imported, with an error that does not say why. ESM evaluates every static
// import before the importing module's own code, so main.js is imported dynamically, once the check has passed.
import { nodeVersionProblem } from '@request-tasker/infrastructure/node-version'

const problem = nodeVersionProblem(process.version, process.execPath)
if (problem !== null) {
  console.error(problem)
  process.exit(1)
}
await import('./main.js')
