// Reliability item 23: hostile but well-formed requests for every method of the contract —
// missing fields, huge strings, unknown enum values, int64 overflow — never get INTERNAL (a
// crash or an unmapped error), UNKNOWN or UNIMPLEMENTED, and no error detail carries a stack
// trace. Mobile methods are called as a signed-in phone (device certificate and session), so the
// requests reach the handlers past the access guard; internal methods on the internal listener.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, loginWithPin, registerUser } from '@kfrm/app-client';
import { contractMethods, fuzzRequests } from '@kfrm/proto/fuzz-requests';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { serviceModules } from './service-modules';

const FORBIDDEN = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNIMPLEMENTED, grpc.status.DATA_LOSS]);
/** What a leaked stack trace or runtime error looks like in a status message. */
const LEAK = /\n\s+at |TypeError|ReferenceError|RangeError|SyntaxError|node_modules|\.ts:\d+/;
const identity = (b: Buffer) => b;
/** grpc-js's own answer for a method the listener does not serve. */
const NOT_HERE = 'The server does not implement the method';

interface Outcome {
  code: grpc.status;
  details: string;
}

function callUnary(client: grpc.Client, path: string, bytes: Uint8Array, metadata: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(bytes), metadata, { deadline: Date.now() + 10_000 }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

/** A server stream: its status if it ends within a moment, else OK once it has started (then cancelled). */
function callStream(client: grpc.Client, path: string, bytes: Uint8Array, metadata: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, Buffer.from(bytes), metadata, { deadline: Date.now() + 10_000 });
    const timer = setTimeout(() => {
      resolve({ code: grpc.status.OK, details: 'still streaming' });
      call.cancel();
    }, 300);
    call.on('data', () => undefined);
    call.on('error', (err: grpc.ServiceError) => {
      clearTimeout(timer);
      if (err.code !== grpc.status.CANCELLED || !err.details.startsWith('Cancelled on client'))
        resolve({ code: err.code, details: err.details });
    });
    call.on('status', (status: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve({ code: status.code, details: status.details });
    });
  });
}

describe('fuzzed requests for every method', () => {
  let services: TestServices;
  let baseStore: Store;
  let app: AppClient;
  let mobileClient: grpc.Client;
  let internalClient: grpc.Client;
  let sessionMetadata: grpc.Metadata;
  const methods = contractMethods();

  beforeAll(async () => {
    baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
    // Redis outlives the test database: a key prefix keeps throttle counters of earlier runs away.
    services = await startTestServices(serviceModules, {
      name: 'fuzz',
      env: { LOG_LEVEL: 'warn' },
      store: prefixed(baseStore, `fuzz-${randomUUID()}:`),
    });
    app = new AppClient({ address: services.mobileAddress, serverCaPem: services.serverCaPem });
    await app.registerDevice();
    const user = await registerUser(app, {
      name: 'Fuzz Tester',
      phoneNumber: '010-2468-1357',
      deviceUuid: 'fuzz-device',
      pin: '582916',
      pattern: '14763',
      residentId: '900115-1234567',
      biometric: false,
    });
    const { sessionToken } = await loginWithPin(app, user.userToken, '582916');
    sessionMetadata = new grpc.Metadata();
    sessionMetadata.set('authorization', `Bearer ${sessionToken}`);
    mobileClient = app.client(grpc.Client);
    internalClient = new grpc.Client(services.internalAddress, grpc.credentials.createInsecure());
  }, 60_000);
  afterAll(async () => {
    internalClient?.close();
    app?.close();
    await services?.close();
    await baseStore?.close();
  });

  it('finds the methods of both listeners in the contract', () => {
    expect(methods.filter((m) => !m.internal).length).toBeGreaterThan(40);
    expect(methods.filter((m) => m.internal).length).toBeGreaterThan(20);
  });

  it('never answers INTERNAL, UNKNOWN or UNIMPLEMENTED, and never leaks a stack trace', async () => {
    const violations: string[] = [];
    let calls = 0;
    // A few methods at a time; each method's cases in order (some change state the next sees).
    const queue = [...methods];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { path, serverStreaming, input } = next;
          // Where it is served: the seed's UserService is in user.proto but internal-only.
          const internal =
            next.internal || (await callUnary(mobileClient, path, new Uint8Array(), new grpc.Metadata())).details.startsWith(NOT_HERE);
          for (const fuzzed of fuzzRequests(input, 6, path.length)) {
            const client = internal ? internalClient : mobileClient;
            const metadata = internal ? new grpc.Metadata() : sessionMetadata.clone();
            const call = serverStreaming ? callStream : callUnary;
            const outcome = await call(client, path, fuzzed.bytes, metadata);
            calls++;
            if (FORBIDDEN.has(outcome.code) || LEAK.test(outcome.details)) {
              violations.push(`${path} (${fuzzed.label}): ${grpc.status[outcome.code]} ${outcome.details.slice(0, 200)}`);
            }
          }
        }
      }),
    );
    if (process.env.FUZZ_REPORT) (await import('node:fs')).writeFileSync(process.env.FUZZ_REPORT, violations.join('\n'));
    expect(calls).toBeGreaterThan(500);
    expect(violations).toEqual([]);
  }, 240_000);
});
