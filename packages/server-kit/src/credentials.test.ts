import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kfrm/logging';
import { ensureDevCertificates } from '@kfrm/pki';
import { mobileServerCredentials } from './credentials';
import { GrpcListener } from './grpc-listener';

/** Whether a TLS handshake with the listener completes (grpc-js drops connections while its certificates are not loaded). */
function handshakes(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('certificate-provider credentials', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('serves TLS from the moment start() returns, not once the files happen to be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-credentials-'));
    dirs.push(dir);
    const files = await ensureDevCertificates(dir);
    for (let round = 0; round < 5; round++) {
      const listener = new GrpcListener({
        name: 'mobile',
        host: '127.0.0.1',
        port: 0,
        credentials: mobileServerCredentials({
          certFile: files.serverCertFile,
          keyFile: files.serverKeyFile,
          clientCaFile: files.deviceCaCertFile,
        }),
        guard: { authorize: async (level) => ({ level }) },
        logger: createLogger({ service: 'test', level: 'silent' }),
      });
      const port = await listener.start();
      try {
        expect(await handshakes(port), `round ${round}`).toBe(true);
      } finally {
        await listener.shutdown(0);
      }
    }
  });

  it('fails start() with the file named when a certificate cannot be read', async () => {
    const listener = new GrpcListener({
      name: 'mobile',
      host: '127.0.0.1',
      port: 0,
      credentials: mobileServerCredentials({
        certFile: '/nonexistent/server.pem',
        keyFile: '/nonexistent/server.key',
        clientCaFile: '/nonexistent/ca.pem',
      }),
      guard: { authorize: async (level) => ({ level }) },
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
    await expect(listener.start()).rejects.toThrow('/nonexistent/server.pem');
    await listener.shutdown(0);
  });
});
