// A split deployment gives each process only the secrets its services read: a process without
// the device service starts in real mode without the device CA key or the E2E key-encryption
// key, and a process missing what it does read stops with one fatal line naming all of it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import { ensureDevCertificates, type TlsFiles } from '@kfrm/pki';
import { createMemoryStore } from '@kfrm/store';
import { runService } from './run-service';
import type { ServiceModule } from './service-module';

const plain: ServiceModule = { name: 'plain', create: () => ({}) };
const signer: ServiceModule = {
  name: 'signer',
  secrets: [{ env: 'KFRM_DEVICE_CA_KEY_FILE', form: 'file', what: 'device CA private key' }],
  create: () => ({}),
};

describe('runService in real mode', () => {
  let dir: string;
  let tls: TlsFiles;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kfrm-run-service-'));
    tls = await ensureDevCertificates(join(dir, 'tls'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const realEnv = () => ({
    DATABASE_URL: 'postgres://kfrm@db.invalid/kfrm',
    KFRM_DATA_DIR: join(dir, 'data'),
    KFRM_MOBILE_LISTEN: '127.0.0.1:0',
    KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
    KFRM_METRICS_LISTEN: '127.0.0.1:0',
    KFRM_TLS_CERT_FILE: tls.serverCertFile,
    KFRM_TLS_KEY_FILE: tls.serverKeyFile,
    KFRM_DEVICE_CA_CERT_FILE: tls.deviceCaCertFile,
  });

  it('starts a service that reads no key without the device CA key or the E2E key', async () => {
    const database = await openTestDatabase({ backend: 'pglite' });
    const store = createMemoryStore();
    const exits: number[] = [];
    try {
      const running = await runService([plain], {
        name: 'plain',
        env: realEnv(),
        db: database,
        store,
        logDestination: createCapturingDestination(),
        exit: (code) => exits.push(code),
      });
      expect(exits).toEqual([]);
      expect(running?.config.mode).toBe('real');
      expect(running?.deviceCaKeyFile).toBeUndefined();
      await running?.stop();
    } finally {
      await store.close();
      await database.close();
    }
  });

  it('stops with one fatal line naming every missing variable, and exit code 1', async () => {
    const logs = createCapturingDestination();
    const exits: number[] = [];
    const { KFRM_TLS_KEY_FILE: _, ...withoutServerKey } = realEnv();
    const running = await runService([signer], {
      name: 'signer',
      env: withoutServerKey,
      logDestination: logs,
      exit: (code) => exits.push(code),
    });
    expect(running).toBeUndefined();
    expect(exits).toEqual([1]);
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]!['level']).toBe('fatal');
    expect(lines[0]!['msg']).toBe(
      'signer cannot start: KFRM_TLS_KEY_FILE is required by every service (server private key of the mobile listener) unless KFRM_MOBILE_LISTEN=off; ' +
        'KFRM_DEVICE_CA_KEY_FILE is required by signer (device CA private key)',
    );
  });

  it('names an unusable device CA certificate in one line', async () => {
    const logs = createCapturingDestination();
    const exits: number[] = [];
    const database = await openTestDatabase({ backend: 'pglite' });
    const store = createMemoryStore();
    try {
      await runService([plain], {
        name: 'plain',
        env: { ...realEnv(), KFRM_DEVICE_CA_CERT_FILE: tls.serverKeyFile },
        db: database,
        store,
        logDestination: logs,
        exit: (code) => exits.push(code),
      });
    } finally {
      await store.close();
      await database.close();
    }
    expect(exits).toEqual([1]);
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // "starting", then the one reason: nothing at error level, no stack.
    expect(lines.map((l) => l['level'])).toEqual(['info', 'fatal']);
    expect(lines[1]!['msg']).toMatch(/^plain cannot start: device CA certificate .*: no PEM CERTIFICATE block$/);
  });
});
