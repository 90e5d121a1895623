// CreateDevice with an `idempotency-key` (docs/idempotency.md), over TLS on the real database and
// store: a retry answers the first call's answer instead of issuing a second device, the same key
// with another body is IDEMPOTENCY_KEY_REUSED, and concurrent duplicates make one device.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { type CreateDeviceResponse, DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { DEVICE_SCHEMA, deviceModule } from './device.module';

const publicKeyPem = () =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;

describe('CreateDevice with an idempotency key', () => {
  let services: TestServices;
  let client: DeviceServiceClient;

  beforeAll(async () => {
    services = await startTestServices([deviceModule], { name: 'device-idempotency-test' });
    client = new DeviceServiceClient(services.mobileAddress, grpc.credentials.createSsl(services.serverCaPem));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await services?.close();
  });

  function createDevice(publicKey: string, key?: string): Promise<CreateDeviceResponse> {
    const metadata = new grpc.Metadata();
    if (key !== undefined) metadata.set('idempotency-key', key);
    return new Promise((resolve, reject) =>
      client.createDevice({ publicKey }, metadata, {}, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }

  async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
    try {
      await promise;
    } catch (err) {
      return err as grpc.ServiceError;
    }
    throw new Error('the call succeeded');
  }

  const deviceCount = async () => (await services.database.kysely(DEVICE_SCHEMA).selectFrom('devices').select('id').execute()).length;

  it('a retry with the same key and body answers the same device and issues no second one', async () => {
    const before = await deviceCount();
    const key = randomUUID();
    const publicKey = publicKeyPem();
    const first = await createDevice(publicKey, key);
    const retry = await createDevice(publicKey, key);
    expect(retry).toEqual(first);
    expect(await deviceCount()).toBe(before + 1);
  });

  it('the same key with another body is IDEMPOTENCY_KEY_REUSED (ALREADY_EXISTS), and nothing is issued', async () => {
    const key = randomUUID();
    await createDevice(publicKeyPem(), key);
    const before = await deviceCount();
    const err = await failure(createDevice(publicKeyPem(), key));
    expect(err.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.IDEMPOTENCY_KEY_REUSED);
    expect(await deviceCount()).toBe(before);
  });

  it('20 concurrent duplicates issue one device and all answer it', async () => {
    const before = await deviceCount();
    const key = randomUUID();
    const publicKey = publicKeyPem();
    const answers = await Promise.all(Array.from({ length: 20 }, () => createDevice(publicKey, key)));
    expect(new Set(answers.map((a) => a.deviceId)).size).toBe(1);
    expect(new Set(answers.map((a) => a.certificate)).size).toBe(1);
    expect(await deviceCount()).toBe(before + 1);
  });

  it('a final error is answered again: a bad key with the same idempotency key stays refused the same way', async () => {
    const key = randomUUID();
    const first = await failure(createDevice('not a key', key));
    const again = await failure(createDevice('not a key', key));
    expect(again.code).toBe(first.code);
    expect(again.details).toBe(first.details);
  });

  it('without a key every call is its own (old app releases), and a malformed key is INVALID_ARGUMENT', async () => {
    const before = await deviceCount();
    const publicKey = publicKeyPem();
    const a = await createDevice(publicKey);
    const b = await createDevice(publicKey);
    expect(a.deviceId).not.toBe(b.deviceId);
    expect(await deviceCount()).toBe(before + 2);
    expect((await failure(createDevice(publicKey, 'short'))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
