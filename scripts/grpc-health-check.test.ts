import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevSecrets, type DevSecrets } from './dev-certs';
import { checkHealth, dialAddress, HealthCheckError } from './grpc-health-check';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SERVICE = 'kfrm.api.tabmenu.TabMenuService';

async function listen(credentials: grpc.ServerCredentials, health: HealthImplementation): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  health.addToServer(server);
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? fail(err) : ok(p))));
  return { server, port };
}

describe('grpc-health-check', () => {
  let dir: string;
  let secrets: DevSecrets;
  let health: HealthImplementation;
  let plain: { server: grpc.Server; port: number };
  let tls: { server: grpc.Server; port: number };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kfrm-health-'));
    secrets = await ensureDevSecrets(dir, ['localhost', '127.0.0.1']);
    health = new HealthImplementation({ '': 'SERVING', [SERVICE]: 'SERVING' });
    plain = await listen(grpc.ServerCredentials.createInsecure(), health);
    const tlsCredentials = grpc.ServerCredentials.createSsl(null, [
      { cert_chain: readFileSync(secrets.serverCertFile), private_key: readFileSync(secrets.serverKeyFile) },
    ]);
    tls = await listen(tlsCredentials, health);
  });
  afterAll(() => {
    plain?.server.forceShutdown();
    tls?.server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads SERVING from a plaintext listener, for the whole server and for one service', async () => {
    expect(await checkHealth({ address: `127.0.0.1:${plain.port}` })).toBe('SERVING');
    expect(await checkHealth({ address: `127.0.0.1:${plain.port}`, service: SERVICE })).toBe('SERVING');
  });

  it('reads SERVING over TLS when it trusts the server CA, and fails with any other CA', async () => {
    const caPem = readFileSync(secrets.serverCaCertFile);
    expect(await checkHealth({ address: `127.0.0.1:${tls.port}`, caPem })).toBe('SERVING');
    expect(await checkHealth({ address: `localhost:${tls.port}`, caPem, serverName: 'localhost' })).toBe('SERVING');
    await expect(
      checkHealth({ address: `127.0.0.1:${tls.port}`, caPem: readFileSync(secrets.deviceCaCertFile), timeoutMs: 2_000 }),
    ).rejects.toThrow(HealthCheckError);
  });

  it('tells NOT_SERVING and unknown services apart from SERVING', async () => {
    health.setStatus(SERVICE, 'NOT_SERVING');
    try {
      expect(await checkHealth({ address: `127.0.0.1:${plain.port}`, service: SERVICE })).toBe('NOT_SERVING');
    } finally {
      health.setStatus(SERVICE, 'SERVING');
    }
    expect(await checkHealth({ address: `127.0.0.1:${plain.port}`, service: 'no.such.Service' })).toBe('SERVICE_UNKNOWN');
  });

  it('rejects when the address speaks no gRPC (plaintext to the TLS port)', async () => {
    await expect(checkHealth({ address: `127.0.0.1:${tls.port}`, timeoutMs: 2_000 })).rejects.toThrow(HealthCheckError);
  });

  it('turns listen addresses into ones a local client can dial', () => {
    expect(dialAddress('0.0.0.0:50052')).toBe('127.0.0.1:50052');
    expect(dialAddress(':50052')).toBe('127.0.0.1:50052');
    expect(dialAddress('[::]:50051')).toBe('[::1]:50051');
    expect(dialAddress('10.1.2.3:50051')).toBe('10.1.2.3:50051');
    expect(dialAddress('[fd00::1]:50051')).toBe('[fd00::1]:50051');
    expect(() => dialAddress('50051')).toThrow(HealthCheckError);
  });

  it('as a command, exits 0 only on SERVING (the contract Docker health checks rely on)', async () => {
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/grpc-health-check.ts', ...args], {
        cwd: repo,
        env: { ...process.env, KFRM_INTERNAL_LISTEN: `0.0.0.0:${plain.port}` },
      }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }),
      );
    // Default target: the internal listener named by KFRM_INTERNAL_LISTEN.
    expect(await run([])).toEqual({ code: 0, stdout: `127.0.0.1:${plain.port}: SERVING\n` });
    expect((await run(['--tls', '--ca', secrets.serverCaCertFile, '--address', `127.0.0.1:${tls.port}`])).code).toBe(0);
    expect((await run(['--service', 'no.such.Service'])).code).toBe(1);
    expect((await run(['--tls', '--address', `127.0.0.1:${tls.port}`])).code).toBe(1); // --tls without --ca
  });
});
