import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureDevInternalPki, type InternalPkiFiles } from '@kfrm/pki';
import { cachePeerCertificatesOfHttp2Connections } from './peer-certificate-cache';

let dir: string;
let pki: InternalPkiFiles;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kfrm-peer-cert-'));
  pki = await ensureDevInternalPki(dir, ['backend', 'auth', 'transfer']);
  cachePeerCertificatesOfHttp2Connections();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('keeps an HTTP/2 connection its own peer certificate: the same answer on that socket, another socket its own', async () => {
  const ca = await readFile(pki.internalCaCertFile);
  const server = http2.createSecureServer({
    cert: await readFile(pki.services.backend!.certFile),
    key: await readFile(pki.services.backend!.keyFile),
    ca,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const seen: { first: unknown; second: unknown; detailed: unknown; uri?: string }[] = [];
  server.on('stream', (stream) => {
    const socket = stream.session!.socket as TLSSocket;
    const first = socket.getPeerCertificate();
    const second = socket.getPeerCertificate();
    seen.push({ first, second, detailed: socket.getPeerCertificate(true), uri: first.subjectaltname });
    stream.respond({ ':status': 200 });
    stream.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const get = async (service: 'auth' | 'transfer') => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      ca,
      cert: await readFile(pki.services[service]!.certFile),
      key: await readFile(pki.services[service]!.keyFile),
      checkServerIdentity: () => undefined,
    });
    const request = session.request({ ':path': '/' });
    request.resume();
    await once(request, 'end');
    session.close();
  };
  try {
    await get('auth');
    await get('transfer');
  } finally {
    server.close();
  }
  expect(seen).toHaveLength(2);
  expect(seen[0]!.second).toBe(seen[0]!.first);
  expect(seen[0]!.uri).toContain('/service/auth');
  expect(seen[1]!.uri).toContain('/service/transfer');
  // The detailed form is never kept: it is asked of OpenSSL each time.
  expect(seen[0]!.detailed).not.toBe(seen[0]!.first);
});
