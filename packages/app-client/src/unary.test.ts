// The SDK's unary(): one idempotency key per logical call, the same on its retries.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceServiceClient, DeviceServiceService } from '@kfrm/proto/gen/kfrm/api/device/device';
import { unary } from './unary';

describe('unary()', () => {
  const server = new grpc.Server();
  const seen: string[] = [];
  let failuresLeft = 0;
  let client: DeviceServiceClient;

  beforeAll(async () => {
    server.addService(DeviceServiceService as unknown as grpc.ServiceDefinition, {
      createDevice(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
        seen.push(String(call.metadata.get('idempotency-key')[0]));
        if (failuresLeft-- > 0) return callback({ code: grpc.status.UNAVAILABLE, details: 'try again' });
        callback(null, { deviceId: 7n, certificate: '', createdAt: '' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new DeviceServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server.forceShutdown();
  });

  it('sends a fresh key per call and the same key on each retry after UNAVAILABLE', async () => {
    seen.length = 0;
    failuresLeft = 2;
    expect((await unary(client, client.createDevice, { publicKey: 'k' })).deviceId).toBe(7n);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toMatch(/^[0-9a-f-]{36}$/);
    await unary(client, client.createDevice, { publicKey: 'k' });
    expect(seen[3]).not.toBe(seen[0]);
  });

  it('gives up after `attempts`, and uses a key it is given', async () => {
    seen.length = 0;
    failuresLeft = 5;
    await expect(
      unary(client, client.createDevice, { publicKey: 'k' }, { attempts: 2, idempotencyKey: 'given-key-0123456789' }),
    ).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(seen).toEqual(['given-key-0123456789', 'given-key-0123456789']);
  });

  // A customer's PIN attempt during a user-service outage answered "the encrypted message could not
  // be decrypted" (INVALID_ARGUMENT) instead of UNAVAILABLE: the SDK had resent the same E2E
  // ciphertext, which the server takes once. Such a call is the app's to redo with a new encryption.
  it('does not resend a request carrying an E2E-encrypted message', async () => {
    seen.length = 0;
    failuresLeft = 5;
    const withCiphertext = { publicKey: 'k', pin: { message: 'jwe', provider: 1, sessionId: 's' } };
    await expect(unary(client, client.createDevice, withCiphertext as { publicKey: string })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(seen).toHaveLength(1);
  });
});
