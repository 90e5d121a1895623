import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from './options';

describe('options', () => {
  it("defaults to the embedded backend's listeners and CA", () => {
    expect(parseOptions([], {})).toEqual({
      address: '127.0.0.1:50051',
      internalAddress: '127.0.0.1:50052',
      caFile: '.data/tls/server-ca.pem',
      depositKrw: 3_000_000n,
      transferKrw: 1_200_000n,
      notificationTimeoutMs: 15_000,
      help: false,
    });
  });

  it("finds the embedded backend's CA in KFRM_DATA_DIR, where `pnpm start` wrote it", () => {
    expect(parseOptions([], { KFRM_DATA_DIR: '/tmp/kfrm-data' }).caFile).toBe('/tmp/kfrm-data/tls/server-ca.pem');
    expect(parseOptions([], { KFRM_DATA_DIR: '/tmp/kfrm-data', KFRM_DEMO_CA_FILE: 'x.pem' }).caFile).toBe('x.pem');
    // Empty is unset, as for the backend: never the current directory.
    expect(parseOptions([], { KFRM_DATA_DIR: '' }).caFile).toBe('.data/tls/server-ca.pem');
  });

  it('takes the environment, and flags over the environment', () => {
    const env = {
      KFRM_DEMO_ADDRESS: 'backend:50051',
      KFRM_DEMO_INTERNAL_ADDRESS: 'backend:50052',
      KFRM_DEMO_CA_FILE: 'deploy/dev-secrets/server-ca.pem',
      KFRM_DEMO_TRANSFER_KRW: '500',
    };
    expect(parseOptions([], env)).toMatchObject({
      address: 'backend:50051',
      internalAddress: 'backend:50052',
      caFile: 'deploy/dev-secrets/server-ca.pem',
      transferKrw: 500n,
    });
    expect(
      parseOptions(['--address', '[::1]:7000', '--amount', '999999', '--ca', 'x.pem', '--notification-timeout', '100'], env),
    ).toMatchObject({
      address: '[::1]:7000',
      caFile: 'x.pem',
      transferKrw: 999_999n,
      notificationTimeoutMs: 100,
    });
    expect(parseOptions(['-h'], {}).help).toBe(true);
  });

  it('refuses unknown flags, bad addresses and amounts that are not whole positive won', () => {
    for (const argv of [
      ['--bogus'],
      ['--address', 'nohost'],
      ['--amount', '0'],
      ['--amount', '12.5'],
      ['--deposit', '-1'],
      ['--notification-timeout', '0'],
      ['extra'],
    ]) {
      expect(() => parseOptions(argv, {}), argv.join(' ')).toThrow(UsageError);
    }
  });
});
