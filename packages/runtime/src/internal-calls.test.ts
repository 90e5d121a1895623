import { getEventListeners } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError, InvalidArgumentError, UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { REQUEST_ID_KEY, activeContext, withContext } from '@kfrm/observability';
import { GetKeyApiError, GetKeyApiError_ErrorCode, KeyServiceClient, KeyServiceService } from '@kfrm/proto/gen/kfrm/api/key/key';
import { apiErrorType, defineService, GrpcListener, type AccessGuard, type CallContext, type HandlersOf } from '@kfrm/server-kit';
import { inProcessInterceptor, routeInProcess } from './in-process-calls';
import { grpcStatusOf, unaryCall } from './internal-calls';
import { propagationInterceptor } from './internal-clients';

const openGuard: AccessGuard = { authorize: async (level) => ({ level }) };
const getKeyErrors = apiErrorType(GetKeyApiError, GetKeyApiError_ErrorCode);
const started: GrpcListener[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(started.splice(0).map((l) => l.shutdown(200)));
});

/**
 * A KeyService on a real listener, and a client of each path: in-process through grpc-js's client
 * and the interceptor (ADR 0004), in-process direct (routeInProcess, as internal-clients.ts makes
 * them: unaryCall skips the grpc-js client), and network. `interceptorCalls` counts calls that
 * went through the direct client's interceptor chain.
 */
async function setUp(handlers: HandlersOf<typeof KeyServiceService>) {
  const listener = new GrpcListener({
    name: 'internal',
    host: '127.0.0.1',
    port: 0,
    credentials: grpc.ServerCredentials.createInsecure(),
    guard: openGuard,
    logger: createLogger({ service: 'test', destination: createCapturingDestination() }),
  });
  listener.addService(
    defineService(KeyServiceService, handlers, { getKey: { access: 'internal', errors: getKeyErrors }, listKeys: { access: 'internal' } }),
  );
  const port = await listener.start();
  started.push(listener);
  const address = `127.0.0.1:${port}`;
  const inProcess = new KeyServiceClient(address, grpc.credentials.createInsecure(), {
    interceptors: [propagationInterceptor, inProcessInterceptor((path) => listener.inProcessUnary(path))],
  });
  const network = new KeyServiceClient(address, grpc.credentials.createInsecure(), { interceptors: [propagationInterceptor] });
  let interceptorCalls = 0;
  const counting: grpc.Interceptor = (options, nextCall) => {
    interceptorCalls++;
    return new grpc.InterceptingCall(nextCall(options));
  };
  const resolve = (path: string) => listener.inProcessUnary(path);
  const direct = new KeyServiceClient(address, grpc.credentials.createInsecure(), {
    interceptors: [counting, propagationInterceptor, inProcessInterceptor(resolve)],
  });
  routeInProcess(direct, resolve);
  clients.push(inProcess, network, direct);
  return { paths: { inProcess, direct, network }, interceptorCalls: () => interceptorCalls };
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('unaryCall', () => {
  it("answers, with the caller's request id on the callee's context, on both paths", async () => {
    const seen: CallContext[] = [];
    const { paths } = await setUp({
      getKey: async (req, ctx) => {
        seen.push(ctx);
        return { provider: req.provider, sessionId: 'session-1', publicKey: 'pk' };
      },
    });
    for (const client of Object.values(paths)) {
      const response = await withContext(activeContext().setValue(REQUEST_ID_KEY, 'req-42'), () =>
        unaryCall(client, 'getKey', { provider: 1 }),
      );
      expect(response).toEqual({ provider: 1, sessionId: 'session-1', publicKey: 'pk' });
    }
    expect(seen.map((ctx) => ctx.requestId)).toEqual(['req-42', 'req-42', 'req-42']);
  });

  it("turns the callee's seed code into a typed UpstreamRefusal, on both paths", async () => {
    const { paths } = await setUp({
      getKey: async () => {
        throw new DomainError('PROVIDER_NOT_FOUND', 'no such provider');
      },
    });
    for (const client of Object.values(paths)) {
      const err = await failure(unaryCall(client, 'getKey', { provider: 1 }, { errors: getKeyErrors }));
      expect(err).toBeInstanceOf(UpstreamRefusal);
      const code: 'PROVIDER_NOT_FOUND' = (err as UpstreamRefusal<'PROVIDER_NOT_FOUND'>).code;
      expect(code).toBe('PROVIDER_NOT_FOUND');
      expect((err as Error).message).toBe('no such provider');
      // Without the callee's ApiError the code cannot be read: the status comes through as is.
      const untyped = await failure(unaryCall(client, 'getKey', { provider: 1 }));
      expect(grpcStatusOf(untyped)).toBe(grpc.status.NOT_FOUND);
    }
  });

  it('passes other statuses through as grpc-js errors', async () => {
    const { paths } = await setUp({
      getKey: async () => {
        throw new InvalidArgumentError('provider is not supported');
      },
    });
    for (const client of Object.values(paths)) {
      const err = await failure(unaryCall(client, 'getKey', { provider: 1 }, { errors: getKeyErrors }));
      expect(grpcStatusOf(err)).toBe(grpc.status.INVALID_ARGUMENT);
      expect((err as grpc.ServiceError).details).toBe('provider is not supported');
    }
  });

  it('maps an outage (deadline, unreachable, cancelled) to UpstreamUnavailableError', async () => {
    const { paths } = await setUp({
      getKey: (_req, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    for (const client of Object.values(paths)) {
      const late = await failure(unaryCall(client, 'getKey', { provider: 1 }, { timeoutMs: 50 }));
      expect(late).toBeInstanceOf(UpstreamUnavailableError);
      expect(grpcStatusOf((late as Error).cause)).toBe(grpc.status.DEADLINE_EXCEEDED);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20);
      const cancelled = await failure(unaryCall(client, 'getKey', { provider: 1 }, { signal: controller.signal }));
      expect(cancelled).toBeInstanceOf(UpstreamUnavailableError);
    }
    const nobody = new KeyServiceClient('127.0.0.1:1', grpc.credentials.createInsecure());
    clients.push(nobody);
    const down = await failure(unaryCall(nobody, 'getKey', { provider: 1 }, { timeoutMs: 2_000 }));
    expect(down).toBeInstanceOf(UpstreamUnavailableError);
  });

  it("serves a routed client's calls without grpc-js's client, and leaves no listener on a caller's signal", async () => {
    const { paths, interceptorCalls } = await setUp({
      getKey: async (req) => ({ provider: req.provider, sessionId: 'session-1', publicKey: 'pk' }),
    });
    // One signal for many calls (a stream's, say): each call's listener goes with its answer.
    const signal = new AbortController().signal;
    for (let i = 0; i < 20; i++) await unaryCall(paths.direct, 'getKey', { provider: 1 }, { signal });
    expect(interceptorCalls()).toBe(0);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    // Called on the client itself, it still goes through the interceptor (and in process).
    const viaClient = await new Promise((resolve, reject) =>
      paths.direct.getKey({ provider: 1 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(viaClient).toEqual({ provider: 1, sessionId: 'session-1', publicKey: 'pk' });
    expect(interceptorCalls()).toBe(1);
  });

  it('takes only unary method names of the client', async () => {
    const client = new KeyServiceClient('127.0.0.1:1', grpc.credentials.createInsecure());
    clients.push(client);
    // @ts-expect-error not a method of KeyServiceClient
    await expect(unaryCall(client, 'postTransfer', {} as never)).rejects.toThrow(TypeError);
  });
});
