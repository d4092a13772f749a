// The layer rules of STYLE.md §3, checked by `task lint`, which runs
//   depcruise --config .dependency-cruiser.mjs apps/*/src packages/*/src apps/*/testing packages/*/testing tests bench
// Tests and their support (`*.test.ts`, the testing/ folder beside a package's src/, tests/, bench/) may import
// anything; the rules on what a layer imports look at its production files only. tests/lint/layer-rules.test.ts shows
// that each rule can fail.
const TEST_SUPPORT = '^(apps|packages)/[^/]+/testing/'
const TEST_CODE = `(\\.test\\.ts$|${TEST_SUPPORT}|^tests/|^bench/)`

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'domain-imports-nothing',
      comment: 'The domain is pure TypeScript: no I/O, no Node built-in, no library, no other workspace package.',
      severity: 'error',
      from: { path: '^packages/domain/src/', pathNot: TEST_CODE },
      to: { pathNot: '^packages/domain/src/' },
    },
    {
      name: 'application-imports-only-domain',
      comment:
        'Use cases meet the world through their ports: they import the domain and nothing else (no pg, kafkajs, ' +
        'undici, fastify, pino, no Node built-in). Biome keeps `process` out of both (biome.json, overrides).',
      severity: 'error',
      from: { path: '^packages/application/src/', pathNot: TEST_CODE },
      to: { pathNot: '^packages/(application|domain)/src/' },
    },
    {
      name: 'packages-never-import-apps',
      comment: 'Adapters serve the apps; one that reached into an app would tie itself to that composition root.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-never-import-each-other',
      comment: 'Each app is a composition root of its own; what two apps share lives in packages/.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'only-declared-dependencies',
      comment:
        'Production code imports only what the package.json nearest to it lists in its dependencies, so a library ' +
        "reaches a layer only by being declared there. Test code may also use the root's tooling (vitest).",
      severity: 'error',
      from: { pathNot: TEST_CODE },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown', 'npm-dev'] },
    },
    {
      name: 'production-never-imports-test-support',
      comment:
        'The builds leave tests and testing/ out (tsconfig exclude), so production code that imported them would ' +
        'break the build, or bring fakes and vitest into a running app.',
      severity: 'error',
      from: { path: '^(apps|packages)/[^/]+/src/', pathNot: '\\.test\\.ts$' },
      to: { path: `(${TEST_SUPPORT}|\\.test\\.ts$)` },
    },
    {
      name: 'sources-not-build-output',
      comment: "A source that imported another package's dist/ would run stale code and slip past these rules.",
      severity: 'error',
      from: { path: '^(apps|packages)/' },
      to: { path: '^(apps|packages)/[^/]+/dist/' },
    },
    {
      name: 'resolvable',
      comment:
        'An import that resolves to nothing fails at run time, and would hide a dependency from these rules. ' +
        "The bench's imports of build output resolve only after a build, which lint does not need.",
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '(^|/)dist/' },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '^(apps|packages)/[^/]+/dist/'] },
    // Workspace packages resolve to their sources, so the check needs no build.
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    // Libraries resolve as Node resolves them for ESM (some, such as uuid, have no other entry).
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
    // Type-only imports count: a port typed with pg's types would tie the use case to pg all the same.
    tsPreCompilationDeps: true,
  },
}
