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
    // Every test customer calls from 127.0.0.1: the per-address limits on the public CreateDevice
    // and GetKey/ListKeys (meant for one real phone or NAT) would refuse a suite's worth of phones.
    // Tests of those limits pass their own, small limits to the module.
    env: { KFRM_DEVICE_CREATE_LIMIT: '1000000', KFRM_E2E_GET_KEY_LIMIT: '1000000' },
    outputFile: { json: '.tmp/vitest-report.json' },
  },
});
