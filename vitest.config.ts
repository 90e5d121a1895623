import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'scripts/**/*.test.ts', 'tests/**/*.test.ts'],
    // Integration tests start real listeners and databases; allow them time on a 2-core CI box.
    testTimeout: 30_000,
    hookTimeout: 90_000,
    // Two cores: more workers only add contention (PGlite start-up is CPU-bound).
    poolOptions: { forks: { maxForks: 4, minForks: 1 } },
    // The JSON report lets .ci/run print a plain "N passed, N failed" summary line.
    reporters: ['default', 'json'],
    outputFile: { json: '.tmp/vitest-report.json' },
  },
});
