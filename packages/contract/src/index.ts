// The API's types, generated from openapi.yaml (`task gen`) once for the server that answers it and the client that
// calls it, so the two cannot drift apart. Types only: nothing here runs.
export type { components, operations, paths } from './generated/openapi.js'
