import { webcrypto } from 'node:crypto';
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, generateDeviceKeyPair, toDeviceIdentity, unary } from '@kfrm/app-client';
import { deviceCertificateNames } from '@kfrm/device-trust';
import { createCapturingDestination } from '@kfrm/logging';
import { x509 } from '@kfrm/pki';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { DeviceRegistryServiceClient, RevocationReason } from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import type { RunningServices } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { deviceModule } from '@kfrm/service-device';
import { createE2eKeyModule } from '@kfrm/service-e2e-key';

const { AUTH, BANKING } = EncryptedMessage_ProviderType;
const SESSION_TTL_MS = 1_500;

/**
 * Device trust end to end, as the phone sees it: over the real mobile listener (TLS, client
 * certificates), through the app client.
 */
describe('device certificates and E2E encryption over TLS', () => {
  let services: TestServices;
  let running: RunningServices;
  let serverCaPem: Buffer;
  let address: string;
  const logs = createCapturingDestination();
  const clients: AppClient[] = [];

  const newApp = () => {
    const app = new AppClient({ address, serverCaPem });
    clients.push(app);
    return app;
  };
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => expect.unreachable('call succeeded'),
      (e: grpc.ServiceError) => e,
    );

  beforeAll(async () => {
    services = await startTestServices([deviceModule, createE2eKeyModule({ sessionTtlMs: SESSION_TTL_MS })], {
      name: 'device-trust-test',
      logDestination: logs,
    });
    ({ running, serverCaPem, mobileAddress: address } = services);
  }, 60_000);

  afterAll(async () => {
    for (const app of clients) app.close();
    await services?.close();
  });

  async function decryptThroughServer(app: AppClient, provider: EncryptedMessage_ProviderType, secret: string) {
    const encryptedMessage = await app.encrypt(provider, secret);
    const { plainText } = await unary(app.e2eTestService, app.e2eTestService.decryptText, { encryptedMessage });
    return plainText;
  }

  for (const kind of ['ec-p256', 'rsa-2048'] as const) {
    it(`gives a ${kind} device a certificate that then opens a device-only method`, async () => {
      const app = newApp();
      const device = await app.registerDevice(kind);
      expect(device.deviceId).toBeGreaterThan(0n);
      const certificate = new x509.X509Certificate(device.certificateDer);
      expect(certificate.subject).toBe(deviceCertificateNames(device.deviceId).subject);
      expect(await decryptThroughServer(app, AUTH, '135790')).toBe('135790');
    });
  }

  it('lets the app read what the server encrypts for it (EncryptText)', async () => {
    const app = newApp();
    await app.registerDevice();
    expect(await decryptThroughServer(app, BANKING, 'hello')).toBe('hello');
    const key = (await app.fetchKeys()).get(BANKING)!;
    // A new key session: send one message first so the server knows the app's key (docs/e2e.md).
    await decryptThroughServer(app, BANKING, 'ping');
    const { encryptedText } = await unary(app.e2eTestService, app.e2eTestService.encryptText, {
      plainText: '서버에서 앱으로',
      provider: BANKING,
      sessionId: key.sessionId,
    });
    expect(await app.decryptFromServer(BANKING, encryptedText)).toBe('서버에서 앱으로');
  });

  describe('refuses device-only calls', () => {
    const expectUnauthenticated = (err: grpc.ServiceError) => {
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    };

    it('without a client certificate', async () => {
      const app = newApp();
      const err = await refusal(decryptThroughServer(app, AUTH, '1'));
      expectUnauthenticated(err);
    });

    it('with a self-signed certificate', async () => {
      const app = newApp();
      const keyPair = await generateDeviceKeyPair();
      const names = deviceCertificateNames(424242n);
      const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '4a01',
        name: names.subject,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        keys: keyPair,
        extensions: [
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: names.uri }]),
        ],
      });
      app.useDevice(await toDeviceIdentity(keyPair, 424242n, Buffer.from(selfSigned.rawData).toString('base64')));
      expectUnauthenticated(await refusal(decryptThroughServer(app, AUTH, '1')));
    });

    it('with an expired certificate from our own device CA', async () => {
      const app = newApp();
      const registered = await app.registerDevice();
      const caKey = await webcrypto.subtle.importKey(
        'pkcs8',
        Buffer.from((await readFile(running.deviceCaKeyFile!, 'utf8')).replace(/-----[^-]+-----|\s/g, ''), 'base64'),
        { name: 'ECDSA', namedCurve: 'P-256' },
        false,
        ['sign'],
      );
      const ca = new x509.X509Certificate(await readFile(running.deviceCaCertFile));
      const names = deviceCertificateNames(registered.deviceId);
      const expired = await x509.X509CertificateGenerator.create({
        serialNumber: '4b02',
        subject: names.subject,
        issuer: ca.subject,
        notBefore: new Date(Date.now() - 10 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        publicKey: registered.keyPair.publicKey,
        signingKey: caKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: names.uri }]),
        ],
      });
      app.useDevice(await toDeviceIdentity(registered.keyPair, registered.deviceId, Buffer.from(expired.rawData).toString('base64')));
      expectUnauthenticated(await refusal(decryptThroughServer(app, AUTH, '1')));
    });

    it('with a revoked certificate', async () => {
      const app = newApp();
      const device = await app.registerDevice();
      expect(await decryptThroughServer(app, AUTH, 'before')).toBe('before');
      // A support operator revokes it (RevokeDevice is an operator method).
      const support = await operatorToken(running.config.operatorIssuerDir, ['support']);
      const registry = new DeviceRegistryServiceClient(`127.0.0.1:${running.internalPort}`, grpc.credentials.createInsecure(), {
        interceptors: [operatorTokenInterceptor(support)],
      });
      await unary(registry, registry.revokeDevice, {
        deviceId: device.deviceId,
        reason: RevocationReason.REVOCATION_REASON_DEVICE_CHANGED,
      });
      registry.close();
      expectUnauthenticated(await refusal(decryptThroughServer(app, AUTH, 'after')));
    });
  });

  describe('E2E messages fail with the seed codes', () => {
    let app: AppClient;
    beforeAll(async () => {
      app = newApp();
      await app.registerDevice();
    });
    const decrypt = (encryptedMessage: Awaited<ReturnType<AppClient['encrypt']>>) =>
      refusal(unary(app.e2eTestService, app.e2eTestService.decryptText, { encryptedMessage }));
    const expectCode = (err: grpc.ServiceError, code: CommonApiError_ErrorCode) => expect(apiErrorCode(err, CommonApiError)).toBe(code);

    it('tampered ciphertext → E2E_DECRYPTION_FAILED', async () => {
      const message = await app.encrypt(AUTH, '135790');
      const parts = message.message.split('.');
      const ciphertext = Buffer.from(parts[3]!, 'base64url');
      ciphertext[0] = ciphertext[0]! ^ 0xff;
      parts[3] = ciphertext.toString('base64url');
      const err = await decrypt({ ...message, message: parts.join('.') });
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expectCode(err, CommonApiError_ErrorCode.E2E_DECRYPTION_FAILED);
    });

    it('wrong provider → E2E_DECRYPTION_FAILED', async () => {
      const message = await app.encrypt(AUTH, '135790');
      expectCode(await decrypt({ ...message, provider: BANKING }), CommonApiError_ErrorCode.E2E_DECRYPTION_FAILED);
    });

    it('replayed into another session → refused', async () => {
      const auth = await app.encrypt(AUTH, '135790');
      const keys = await app.fetchKeys();
      const err = await decrypt({ ...auth, sessionId: keys.get(AUTH)!.sessionId });
      expectCode(err, CommonApiError_ErrorCode.E2E_DECRYPTION_FAILED);
    });

    it('expired session → E2E_KEY_SESSION_EXPIRED', async () => {
      await app.fetchKeys();
      const message = await app.encrypt(AUTH, '135790');
      await new Promise((r) => setTimeout(r, SESSION_TTL_MS + 500));
      const err = await decrypt(message);
      expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
      expectCode(err, CommonApiError_ErrorCode.E2E_KEY_SESSION_EXPIRED);
    });

    it('the app SDK makes a new key exchange once on E2E_KEY_SESSION_EXPIRED and the customer sees the answer', async () => {
      await app.fetchKeys();
      const staleSession = (await app.fetchKeys()).get(AUTH)!.sessionId;
      // The session vanishes from the store (expiry here; a store restart does the same).
      await new Promise((r) => setTimeout(r, SESSION_TTL_MS + 500));
      const calls: string[] = [];
      const plainText = await app.withEncrypted(AUTH, '135790', async (encryptedMessage) => {
        calls.push(encryptedMessage.sessionId);
        return (await unary(app.e2eTestService, app.e2eTestService.decryptText, { encryptedMessage })).plainText;
      });
      expect(plainText).toBe('135790');
      expect(calls).toHaveLength(2);
      expect(calls[0]).toBe(staleSession);
      expect(calls[1]).not.toBe(staleSession);
      // Only once: a second expiry in a row is the caller's to see.
      let attempts = 0;
      const err = await refusal(
        app.withEncrypted(AUTH, '135790', async (encryptedMessage) => {
          attempts++;
          return unary(app.e2eTestService, app.e2eTestService.decryptText, {
            encryptedMessage: { ...encryptedMessage, sessionId: staleSession },
          });
        }),
      );
      expectCode(err as grpc.ServiceError, CommonApiError_ErrorCode.E2E_KEY_SESSION_EXPIRED);
      expect(attempts).toBe(2);
    });
  });

  it('writes no key material or secret to the logs', async () => {
    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(10);
    expect(text).not.toContain('PRIVATE KEY');
    // The PIN as a value of its own: a random request, trace or span id (hex) may hold these digits.
    expect(text).not.toMatch(/(?<![0-9a-f-])135790(?![0-9a-f-])/);
    expect(text).not.toContain('"d":');
    expect(await readFile(running.deviceCaKeyFile!, 'utf8')).not.toBe('');
    const caKeyBody = (await readFile(running.deviceCaKeyFile!, 'utf8')).split('\n')[1]!;
    expect(text).not.toContain(caKeyBody);
    for (const app of clients) {
      if (app.device) expect(text).not.toContain(app.device.privateKeyPem.split('\n')[1]!);
    }
  });
});
