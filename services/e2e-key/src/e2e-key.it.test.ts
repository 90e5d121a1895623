import { createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyEncryptionKey, encryptForSession, openEncryptedText, openKeySessions } from '@kfrm/e2e-crypto';
import { createCapturingDestination } from '@kfrm/logging';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { E2eTestServiceClient } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { GetKeyApiError, GetKeyApiError_ErrorCode, KeyServiceClient } from '@kfrm/proto/gen/kfrm/api/key/key';
import type { RunningServices } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { createE2eKeyModule, e2eKeyModule } from './e2e-key.module';

const { AUTH, BANKING, UNKNOWN } = EncryptedMessage_ProviderType;

/** Promise form of a generated unary client method. */
function call<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res))));
}

const failed = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('expected the call to fail'),
    (err: grpc.ServiceError) => err,
  );

describe('e2e-key over TLS', () => {
  let services: TestServices;
  let dataDir: string;
  let running: RunningServices;
  let keys: KeyServiceClient;
  const logs = createCapturingDestination();

  beforeAll(async () => {
    services = await startTestServices([e2eKeyModule], { name: 'e2e-key-test', env: { LOG_LEVEL: 'trace' }, logDestination: logs });
    ({ dataDir, running } = services);
    keys = new KeyServiceClient(services.mobileAddress, grpc.credentials.createSsl(services.serverCaPem));
  }, 60_000);

  afterAll(async () => {
    keys?.close();
    await services?.close();
  });

  it('creates the embedded key-encryption key in the data directory, readable by the owner only', async () => {
    const file = join(dataDir, 'keys', 'e2e-kek');
    expect(running.config.e2eKekFile).toBe(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('GetKey without a client certificate gives a key that any service sharing the configuration can open messages for', async () => {
    const key = await call(keys.getKey.bind(keys), { provider: AUTH });
    expect(key.provider).toBe(AUTH);
    const { encryptedMessage } = await encryptForSession(key.publicKey, key.sessionId, 'AUTH', '246810');
    // Another service (auth, say) builds its sessions from the same store and configuration.
    const elsewhere = await openKeySessions(running.store, running.config);
    expect(await openEncryptedText(elsewhere, encryptedMessage, 'AUTH')).toBe('246810');
  });

  it('GetKey: NOT_FOUND with PROVIDER_NOT_FOUND for UNKNOWN and for an unrecognised number', async () => {
    for (const provider of [UNKNOWN, 42]) {
      const err = await failed(call(keys.getKey.bind(keys), { provider }));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(err, GetKeyApiError)).toBe(GetKeyApiError_ErrorCode.PROVIDER_NOT_FOUND);
    }
  });

  it('ListKeys: a fresh AUTH and BANKING session', async () => {
    const { keys: listed } = await call(keys.listKeys.bind(keys), {});
    expect(listed.map((k) => k.provider)).toEqual([AUTH, BANKING]);
    expect(new Set(listed.map((k) => k.sessionId)).size).toBe(2);
    for (const k of listed) expect(Buffer.from(k.publicKey, 'base64')).toHaveLength(91);
  });

  it('E2eTestService needs a device certificate', async () => {
    const client = new E2eTestServiceClient(services.mobileAddress, grpc.credentials.createSsl(services.serverCaPem));
    try {
      const key = await call(keys.getKey.bind(keys), { provider: AUTH });
      const { encryptedMessage } = await encryptForSession(key.publicKey, key.sessionId, 'AUTH', 'not for strangers');
      const err = await failed(call(client.decryptText.bind(client), { encryptedMessage }));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    } finally {
      client.close();
    }
  });

  it('logs no key material: neither the key-encryption key nor any session private key, sealed or not', async () => {
    const { keys: listed } = await call(keys.listKeys.bind(keys), {});
    const text = logs.text();
    expect(text).toContain('call done');
    const kekBytes = await readFile(join(dataDir, 'keys', 'e2e-kek'));
    const kek = KeyEncryptionKey.fromBytes(kekBytes);
    const forbidden = [kekBytes.toString('base64'), kekBytes.toString('base64url'), kekBytes.toString('hex'), 'sealedKey'];
    for (const { sessionId, provider } of listed) {
      const record = JSON.parse((await running.store.get(`e2e:session:${sessionId}`))!) as { sealedKey: string };
      // Unsealed as docs/e2e.md describes, to know what the private key looks like in every encoding.
      const pkcs8 = kek.open(
        Buffer.from(record.sealedKey, 'base64url'),
        `kfrm-e2e-session-key-v1|${sessionId}|${provider === AUTH ? 'AUTH' : 'BANKING'}`,
      );
      const d = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d!;
      forbidden.push(record.sealedKey, pkcs8.toString('base64'), pkcs8.toString('hex'), d, Buffer.from(d, 'base64url').toString('hex'));
    }
    for (const form of forbidden) expect(text).not.toContain(form);
  });
});

describe('GetKey and ListKeys rate limit per client address', () => {
  let services: TestServices;

  beforeAll(async () => {
    const limited = createE2eKeyModule({ env: { KFRM_E2E_GET_KEY_LIMIT: '3', KFRM_E2E_GET_KEY_WINDOW_MS: '600000' } });
    services = await startTestServices([limited], { name: 'e2e-key-rate-test' });
  }, 60_000);

  afterAll(async () => {
    await services?.close();
  });

  it('refuses the 4th key request from one address within the window with RESOURCE_EXHAUSTED', async () => {
    const client = new KeyServiceClient(services.mobileAddress, grpc.credentials.createSsl(services.serverCaPem));
    try {
      for (let i = 0; i < 2; i++) expect((await call(client.getKey.bind(client), { provider: AUTH })).sessionId).not.toBe('');
      expect((await call(client.listKeys.bind(client), {})).keys).toHaveLength(2);
      const err = await failed(call(client.getKey.bind(client), { provider: BANKING }));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await failed(call(client.listKeys.bind(client), {}))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      client.close();
    }
  });
});
