import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = fileURLToPath(new URL('.', import.meta.url))
// Tests run the TypeScript sources of the workspace packages, not their build output. A package's test support
// (testing/, beside src/) is not in its build or its exports: only tests reach it, through this alias.
const alias = [
  {
    find: /^@request-tasker\/(domain|application|infrastructure)\/testing$/,
    replacement: `${root}packages/$1/testing/index.ts`,
  },
  {
    find: /^@request-tasker\/(domain|application|infrastructure|client|contract)$/,
    replacement: `${root}packages/$1/src/index.ts`,
  },
]

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['{apps,packages}/*/{src,testing}/**/*.test.ts', 'tests/lint/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['{apps,packages}/*/{src,testing}/**/*.int.test.ts'],
          globalSetup: ['tests/support/services.global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.e2e.test.ts'],
          globalSetup: ['tests/support/services.global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
