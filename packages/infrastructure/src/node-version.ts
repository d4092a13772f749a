/**
 * The oldest Node.js major the apps run on, as `.nvmrc` and the root package.json's `engines` say (a test keeps the
 * three in step). On Node 20, undici fails while being imported, with "Cannot read properties of undefined (reading
 * 'bind')", which says nothing about the cause; each app's start.ts checks this first.
 */
export const MINIMUM_NODE_MAJOR = 24

/** Why this Node.js cannot run the apps, and what to run instead; null when it can. */
export function nodeVersionProblem(version: string, execPath: string): string | null {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1])
  if (major >= MINIMUM_NODE_MAJOR) return null
  return [
    `RequestTasker needs Node.js ${MINIMUM_NODE_MAJOR} or later; this is Node.js ${version} (${execPath}).`,
    `From a clone, run it with ./scripts/task up, which installs Node.js ${MINIMUM_NODE_MAJOR} for the project,`,
    `or put that Node.js first on PATH with \`. scripts/bootstrap.sh\` and start the app again.`,
  ].join('\n')
}
