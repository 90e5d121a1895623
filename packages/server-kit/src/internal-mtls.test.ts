import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kfrm/logging';
import { ensureDevInternalPki, type InternalPkiFiles } from '@kfrm/pki';
import { E2eTestServiceClient, E2eTestServiceService, type EncryptTextResponse } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { internalServerCredentials } from './credentials';
import { defineService } from './define-service';
import { GrpcListener } from './grpc-listener';
import { createInternalAccessGuard, type AccessRefusal } from './operator-access';

// The internal listener over mTLS with the real guard: who calls is the verified certificate's
// URI SAN (spiffe://kfrm/service/<name>), never a header.
let dir: string;
let pki: InternalPkiFiles;
let foreign: InternalPkiFiles;
let listener: GrpcListener;
let address: string;
const refusals: AccessRefusal[] = [];
const seen: (string | undefined)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kfrm-internal-mtls-'));
  pki = await ensureDevInternalPki(join(dir, 'ours'), ['backend', 'auth', 'transfer']);
  foreign = await ensureDevInternalPki(join(dir, 'theirs'), ['auth']);
  listener = new GrpcListener({
    name: 'internal',
    host: '127.0.0.1',
    port: 0,
    credentials: internalServerCredentials({
      certFile: pki.services.backend!.certFile,
      keyFile: pki.services.backend!.keyFile,
      clientCaFile: pki.internalCaCertFile,
    }),
    guard: createInternalAccessGuard({ onRefusal: (r) => void refusals.push(r) }),
    logger: createLogger({ service: 'test', level: 'silent' }),
  });
  listener.addService(
    defineService(
      E2eTestServiceService,
      {
        encryptText: async (req, ctx) => {
          seen.push(ctx.principal.service);
          return { encryptedText: req.plainText };
        },
      },
      { encryptText: { access: 'internal', callers: ['auth'] }, decryptText: { access: 'internal' } },
    ),
  );
  address = `127.0.0.1:${await listener.start()}`;
});

afterAll(async () => {
  await listener.shutdown(100);
  await rm(dir, { recursive: true, force: true });
});

async function call(credentials: grpc.ChannelCredentials, headers: Record<string, string> = {}): Promise<EncryptTextResponse> {
  const client = new E2eTestServiceClient(address, credentials);
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  try {
    return await new Promise((resolve, reject) =>
      client.encryptText({ plainText: 'x', provider: 1, sessionId: 's' }, metadata, { deadline: Date.now() + 5_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  } finally {
    client.close();
  }
}

const ca = () => readFile(pki.internalCaCertFile);
const withCertificate = async (files: { certFile: string; keyFile: string }) =>
  grpc.credentials.createSsl(await ca(), await readFile(files.keyFile), await readFile(files.certFile));

describe('internal listener over mTLS', () => {
  it('serves a service the method names, identified by its certificate', async () => {
    seen.length = 0;
    expect(await call(await withCertificate(pki.services.auth!))).toEqual({ encryptedText: 'x' });
    expect(seen).toEqual(['auth']);
  });

  it('refuses a forged x-kfrm-caller-service header without a certificate: UNAUTHENTICATED', async () => {
    refusals.length = 0;
    await expect(call(grpc.credentials.createSsl(await ca()), { 'x-kfrm-caller-service': 'auth' })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    // A transfer certificate claiming to be auth in the header is transfer.
    await expect(call(await withCertificate(pki.services.transfer!), { 'x-kfrm-caller-service': 'auth' })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    expect(refusals.map((r) => [r.kind, r.service])).toEqual([
      ['caller-unknown', undefined],
      ['service-call-refused', 'transfer'],
    ]);
  });

  it('knows each open connection by its own certificate, call after call (peer certificates kept per connection)', async () => {
    const asAuth = new E2eTestServiceClient(address, await withCertificate(pki.services.auth!));
    const asTransfer = new E2eTestServiceClient(address, await withCertificate(pki.services.transfer!));
    const encrypt = (client: E2eTestServiceClient) =>
      new Promise<grpc.status>((resolve) =>
        client.encryptText({ plainText: 'x', provider: 1, sessionId: 's' }, (err) => resolve(err ? err.code : grpc.status.OK)),
      );
    try {
      seen.length = 0;
      const codes: grpc.status[] = [];
      for (let i = 0; i < 3; i++) codes.push(await encrypt(asAuth), await encrypt(asTransfer));
      expect(codes).toEqual([0, 7, 0, 7, 0, 7]);
      expect(seen).toEqual(['auth', 'auth', 'auth']);
    } finally {
      asAuth.close();
      asTransfer.close();
    }
  });

  it('refuses a service the method does not name: PERMISSION_DENIED', async () => {
    await expect(call(await withCertificate(pki.services.transfer!))).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('refuses a caller without a certificate: UNAUTHENTICATED', async () => {
    await expect(call(grpc.credentials.createSsl(await ca()))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it('refuses a certificate from another CA naming a service it may call (no identity: UNAUTHENTICATED)', async () => {
    refusals.length = 0;
    const credentials = grpc.credentials.createSsl(
      await ca(),
      await readFile(foreign.services.auth!.keyFile),
      await readFile(foreign.services.auth!.certFile),
    );
    await expect(call(credentials)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(refusals.map((r) => r.kind)).toEqual(['caller-unknown']);
  });

  it('refuses plaintext at the TLS layer', async () => {
    await expect(call(grpc.credentials.createInsecure())).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('serves an in-process call in the name the composition root gave it, and no other', async () => {
    const serve = listener.inProcessUnary('/kfrm.api.e2e.E2eTestService/EncryptText')!;
    const request = { plainText: 'y', provider: 1, sessionId: 's' };
    const forged = new grpc.Metadata();
    forged.set('x-kfrm-caller-service', 'auth');
    expect((await serve({ request, metadata: new grpc.Metadata(), caller: 'auth' })).status.code).toBe(grpc.status.OK);
    expect((await serve({ request, metadata: forged })).status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await serve({ request, metadata: new grpc.Metadata(), caller: 'transfer' })).status.code).toBe(grpc.status.PERMISSION_DENIED);
  });
});
