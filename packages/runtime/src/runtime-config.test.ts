import { describe, expect, it } from 'vitest';
import { readRuntimeConfig } from './runtime-config';

const realMode = {
  DATABASE_URL: 'postgres://db/kfrm',
  KFRM_TLS_CERT_FILE: '/s/tls.crt',
  KFRM_TLS_KEY_FILE: '/s/tls.key',
  KFRM_DEVICE_CA_CERT_FILE: '/s/ca.crt',
  KFRM_DEVICE_CA_KEY_FILE: '/s/ca.key',
  KFRM_E2E_KEK_FILE: '/s/kek',
};

describe('readRuntimeConfig', () => {
  it('offers the E2E test service in the embedded default only, unless told otherwise', () => {
    expect(readRuntimeConfig({}).e2eTestService).toBe(true);
    expect(readRuntimeConfig(realMode).mode).toBe('real');
    expect(readRuntimeConfig(realMode).e2eTestService).toBe(false);
    expect(readRuntimeConfig({ ...realMode, KFRM_E2E_TEST_SERVICE: 'true' }).e2eTestService).toBe(true);
    expect(readRuntimeConfig({ KFRM_E2E_TEST_SERVICE: 'false' }).e2eTestService).toBe(false);
  });

  it('sends internal calls in-process by default, over the network when switched off', () => {
    expect(readRuntimeConfig({}).internalInProcess).toBe(true);
    expect(readRuntimeConfig({ KFRM_INTERNAL_IN_PROCESS: 'false' }).internalInProcess).toBe(false);
  });
});
