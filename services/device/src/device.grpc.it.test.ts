// The device service as a phone and another service reach it: CreateDevice over TLS, the issued
// certificate used for a device-only method, RevokeDevice on the internal listener.
import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCapturingDestination } from '@kfrm/logging';
import { AppVersionServiceClient, AppVersionServiceService } from '@kfrm/proto/gen/kfrm/api/appversion/app_version';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { CreateDeviceApiError, CreateDeviceApiError_ErrorCode, DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import {
  DeviceRegistryServiceClient,
  RevocationReason,
  RevokeDeviceApiError,
  RevokeDeviceApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import type { RunningServices, ServiceModule } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode, defineService } from '@kfrm/server-kit';
import type { Store } from '@kfrm/store';
import { createDeviceModule, DEVICE_SCHEMA, deviceModule } from './device.module';
import { toPem } from '@kfrm/pki';

function call<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res))));
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/**
 * A stand-in device-only method: AppVersionService re-registered at access level 'device', answering
 * with the device id the access check put on the call. (The real app version method is public; the
 * auth service that serves it is not in this process.)
 */
const echoDeviceModule: ServiceModule = {
  name: 'echo-device',
  create: () => ({
    mobile: [
      defineService(
        AppVersionServiceService,
        {
          async getReleasedAppVersion(_request, ctx) {
            return { minimum: { version: ctx.principal.device?.deviceId ?? '' }, latest: undefined };
          },
        },
        { getReleasedAppVersion: { access: 'device' } },
      ),
    ],
  }),
};

describe('device service over gRPC', () => {
  let services: TestServices;
  let store: Store;
  let running: RunningServices;
  let serverCa: Buffer;
  let mobileAddress: string;
  const logs = createCapturingDestination();

  beforeAll(async () => {
    services = await startTestServices([deviceModule, echoDeviceModule], {
      name: 'device-test',
      logDestination: logs,
      serviceIdentity: true,
    });
    ({ running, store } = services);
    ({ serverCaPem: serverCa, mobileAddress } = services);
  }, 60_000);

  afterAll(async () => {
    await services?.close();
  });

  /** What the phone does: make a key, send its public half, keep the certificate. */
  async function enrol(kind: 'ec' | 'rsa') {
    const keys =
      kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const client = new DeviceServiceClient(mobileAddress, grpc.credentials.createSsl(serverCa));
    try {
      const response = await call(client.createDevice.bind(client), {
        publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      });
      const certificatePem = toPem('CERTIFICATE', Buffer.from(response.certificate, 'base64'));
      const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      return { response, credentials: grpc.credentials.createSsl(serverCa, Buffer.from(keyPem), Buffer.from(certificatePem)) };
    } finally {
      client.close();
    }
  }

  async function deviceOnlyCall(credentials: grpc.ChannelCredentials): Promise<string> {
    const client = new AppVersionServiceClient(mobileAddress, credentials);
    try {
      return (await call(client.getReleasedAppVersion.bind(client), {})).minimum?.version ?? '';
    } finally {
      client.close();
    }
  }

  function revoke(deviceId: bigint) {
    // As the auth service revokes a replaced device.
    const client = new DeviceRegistryServiceClient(`127.0.0.1:${running.internalPort}`, services.identity!.as('auth'));
    return call(client.revokeDevice.bind(client), { deviceId, reason: RevocationReason.REVOCATION_REASON_DEVICE_CHANGED }).finally(() =>
      client.close(),
    );
  }

  it('issues certificates for an EC and an RSA key, and each then reaches a device-only method as its device', async () => {
    for (const kind of ['ec', 'rsa'] as const) {
      const { response, credentials } = await enrol(kind);
      expect(response.deviceId).toBeGreaterThan(0n);
      expect(response.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(await deviceOnlyCall(credentials)).toBe(String(response.deviceId));
    }
  });

  it('refuses a weak key with INVALID_ARGUMENT and DEVICE_CERTIFICATE_ISSUANCE_FAILED', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const client = new DeviceServiceClient(mobileAddress, grpc.credentials.createSsl(serverCa));
    const err = await failure(call(client.createDevice.bind(client), { publicKey: weak }));
    client.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(apiErrorCode(err, CreateDeviceApiError)).toBe(CreateDeviceApiError_ErrorCode.DEVICE_CERTIFICATE_ISSUANCE_FAILED);
  });

  it('refuses the device-only method without a client certificate', async () => {
    const err = await failure(deviceOnlyCall(grpc.credentials.createSsl(serverCa)));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
  });

  it('refuses a revoked device after RevokeDevice on the internal listener', async () => {
    const { response, credentials } = await enrol('ec');
    expect(await deviceOnlyCall(credentials)).toBe(String(response.deviceId));
    const revoked = await revoke(response.deviceId);
    expect(new Date(revoked.revokedAt).toISOString()).toBe(revoked.revokedAt);
    const err = await failure(deviceOnlyCall(credentials));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
  });

  it('answers RevokeDevice for an unknown device with NOT_FOUND and DEVICE_NOT_FOUND', async () => {
    const err = await failure(revoke(123_456_789n));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(apiErrorCode(err, RevokeDeviceApiError)).toBe(RevokeDeviceApiError_ErrorCode.DEVICE_NOT_FOUND);
  });

  it('does not serve RevokeDevice on the mobile listener', async () => {
    const { credentials } = await enrol('ec');
    const client = new DeviceRegistryServiceClient(mobileAddress, credentials);
    const err = await failure(
      call(client.revokeDevice.bind(client), { deviceId: 1n, reason: RevocationReason.REVOCATION_REASON_USER_BLOCKED }),
    );
    client.close();
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('never logs a certificate or key', async () => {
    const { response } = await enrol('ec');
    expect(logs.text()).toContain(`"device_id":"${response.deviceId}"`);
    expect(logs.text()).not.toContain(response.certificate.slice(0, 60));
    expect(logs.text()).not.toContain('PRIVATE KEY');
  });

  // Last: it closes the store the process uses.
  it('fails closed with UNAVAILABLE when the store cannot say whether a device is revoked', async () => {
    const { credentials } = await enrol('ec');
    await store.close();
    const err = await failure(deviceOnlyCall(credentials));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('CreateDevice rate limit per client address', () => {
  let services: TestServices;

  beforeAll(async () => {
    const limited = createDeviceModule({ env: { KFRM_DEVICE_CREATE_LIMIT: '3', KFRM_DEVICE_CREATE_WINDOW_MS: '600000' } });
    services = await startTestServices([limited], { name: 'device-rate-test' });
  }, 60_000);

  afterAll(async () => {
    await services?.close();
  });

  function createDevice() {
    const client = new DeviceServiceClient(services.mobileAddress, grpc.credentials.createSsl(services.serverCaPem));
    const publicKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    return call(client.createDevice.bind(client), { publicKey }).finally(() => client.close());
  }

  it('refuses the 4th CreateDevice from one address within the window with RESOURCE_EXHAUSTED, and issues nothing for it', async () => {
    for (let i = 0; i < 3; i++) expect((await createDevice()).deviceId).toBeGreaterThan(0n);
    const err = await failure(createDevice());
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const devices = await services.database.kysely(DEVICE_SCHEMA).selectFrom('devices').select('id').execute();
    expect(devices).toHaveLength(3);
  });
});
