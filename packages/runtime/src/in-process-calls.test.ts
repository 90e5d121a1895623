import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import {
  E2eTestServiceClient,
  E2eTestServiceService,
  type EncryptTextRequest,
  type EncryptTextResponse,
} from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import {
  apiErrorCode,
  defineService,
  unauthenticated,
  GrpcListener,
  type AccessGuard,
  type CallContext,
  type HandlersOf,
} from '@kfrm/server-kit';
import { inProcessInterceptor } from './in-process-calls';
import { propagationInterceptor } from './internal-clients';

const openGuard: AccessGuard = { authorize: async (level) => ({ level }) };
const started: GrpcListener[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(started.splice(0).map((l) => l.shutdown(200)));
});

async function setUp(handlers: HandlersOf<typeof E2eTestServiceService>) {
  const logs = createCapturingDestination();
  const listener = new GrpcListener({
    name: 'internal',
    host: '127.0.0.1',
    port: 0,
    credentials: grpc.ServerCredentials.createInsecure(),
    guard: openGuard,
    logger: createLogger({ service: 'test', destination: logs }),
  });
  listener.addService(
    defineService(E2eTestServiceService, handlers, { encryptText: { access: 'internal' }, decryptText: { access: 'internal' } }),
  );
  const port = await listener.start();
  started.push(listener);
  const address = `127.0.0.1:${port}`;
  const inProcess = new E2eTestServiceClient(address, grpc.credentials.createInsecure(), {
    interceptors: [propagationInterceptor, inProcessInterceptor((path) => listener.inProcessUnary(path))],
  });
  const network = new E2eTestServiceClient(address, grpc.credentials.createInsecure());
  clients.push(inProcess, network);
  return { listener, inProcess, network, logs };
}

interface Answer {
  response?: EncryptTextResponse;
  error?: grpc.ServiceError;
  headers?: grpc.Metadata;
}

function encryptText(
  client: E2eTestServiceClient,
  request: EncryptTextRequest,
  options: { metadata?: grpc.Metadata; deadlineMs?: number; cancelAfterMs?: number } = {},
) {
  return new Promise<Answer>((resolve) => {
    let headers: grpc.Metadata | undefined;
    const call = client.encryptText(
      request,
      options.metadata ?? new grpc.Metadata(),
      options.deadlineMs !== undefined ? { deadline: Date.now() + options.deadlineMs } : {},
      (error, response) => resolve(error ? { error, headers } : { response, headers }),
    );
    call.on('metadata', (m) => (headers = m));
    if (options.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), options.cancelAfterMs);
  });
}

const request = (plainText: string): EncryptTextRequest => ({ plainText, provider: 1, sessionId: 's' });

describe('in-process internal calls', () => {
  it('answer as the network does, without opening a connection', async () => {
    const seen: CallContext[] = [];
    const { inProcess, network } = await setUp({
      encryptText: async (req, ctx) => {
        seen.push(ctx);
        return { encryptedText: `${req.plainText.toUpperCase()}:${ctx.principal.level}` };
      },
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-request-id', 'req-123');
    const local = await encryptText(inProcess, request('abc'), { metadata });
    expect(local.response).toEqual({ encryptedText: 'ABC:internal' });
    expect(local.headers?.get('x-request-id')).toEqual(['req-123']);
    expect(seen[0]!.requestId).toBe('req-123');
    expect(seen[0]!.method).toBe('/kfrm.api.e2e.E2eTestService/EncryptText');
    // The in-process client never connected anywhere.
    expect(inProcess.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.IDLE);

    const remote = await encryptText(network, request('abc'), { metadata });
    expect(remote.response).toEqual(local.response);
  });

  it('carries errors with their status, message and ApiError detail', async () => {
    const { inProcess, network } = await setUp({
      encryptText: async () => {
        throw unauthenticated('session is gone');
      },
    });
    const [local, remote] = [await encryptText(inProcess, request('x')), await encryptText(network, request('x'))];
    for (const answer of [local, remote]) {
      expect(answer.error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(answer.error?.details).toBe('session is gone');
      expect(apiErrorCode(answer.error!, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    }
    expect(local.error!.code).toBe(remote.error!.code);
    expect(local.error!.details).toBe(remote.error!.details);
  });

  it('copies messages: neither side sees the other mutate its object', async () => {
    let handlerRequest: EncryptTextRequest | undefined;
    const response = { encryptedText: 'kept' };
    const { inProcess } = await setUp({
      encryptText: async (req) => {
        handlerRequest = req;
        req.plainText = 'changed by the handler';
        return response;
      },
    });
    const sent = request('original');
    const answer = await encryptText(inProcess, sent);
    expect(sent.plainText).toBe('original');
    expect(handlerRequest).not.toBe(sent);
    answer.response!.encryptedText = 'changed by the caller';
    expect(response.encryptedText).toBe('kept');
  });

  it('ends with DEADLINE_EXCEEDED at the deadline and aborts the handler', async () => {
    let aborted = false;
    const { inProcess } = await setUp({
      encryptText: (_req, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          }),
        ),
    });
    const answer = await encryptText(inProcess, request('slow'), { deadlineMs: 50 });
    expect(answer.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await expect.poll(() => aborted).toBe(true);
  });

  it('ends with CANCELLED when the caller cancels, and aborts the handler', async () => {
    let aborted = false;
    const { inProcess } = await setUp({
      encryptText: (_req, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          }),
        ),
    });
    const answer = await encryptText(inProcess, request('slow'), { cancelAfterMs: 20 });
    expect(answer.error?.code).toBe(grpc.status.CANCELLED);
    await expect.poll(() => aborted).toBe(true);
  });

  it('lets shutdown wait for a running call, then refuses new ones with UNAVAILABLE', async () => {
    let release!: () => void;
    const { listener, inProcess } = await setUp({
      encryptText: () => new Promise((resolve) => (release = () => resolve({ encryptedText: 'finished' }))),
    });
    const running = encryptText(inProcess, request('a'));
    await expect.poll(() => release !== undefined).toBe(true);
    let shutDown = false;
    const shutdown = listener.shutdown(5_000).then(() => (shutDown = true));
    const refused = await encryptText(inProcess, request('b'));
    expect(refused.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(shutDown).toBe(false);
    release();
    expect((await running).response).toEqual({ encryptedText: 'finished' });
    await shutdown;
    expect(shutDown).toBe(true);
  });

  it('sends methods this process does not serve over the network', async () => {
    const { listener } = await setUp({ encryptText: async (req) => ({ encryptedText: req.plainText }) });
    const viaNetwork = new E2eTestServiceClient(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure(), {
      interceptors: [inProcessInterceptor(() => undefined)],
    });
    clients.push(viaNetwork);
    expect((await encryptText(viaNetwork, request('net'))).response).toEqual({ encryptedText: 'net' });
    expect(viaNetwork.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
  });
});
