import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { E2eTestServiceClient, E2eTestServiceService } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import {
  NotificationServiceClient,
  NotificationServiceService,
  NotificationEventType,
  type NotificationEventResponse,
} from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { createMobileAccessGuard, type AccessGuard } from './access';
import { defineService, type HandlersOf } from './define-service';
import { apiErrorCode } from './error-details';
import { GrpcListener, type ListenerLimits } from './grpc-listener';

const openGuard: AccessGuard = { authorize: async (level) => ({ level }) };

interface Harness {
  listener: GrpcListener;
  address: string;
  logs: ReturnType<typeof createCapturingDestination>;
}

const started: GrpcListener[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.shutdown(100)));
});

async function startE2eTestService(
  handlers: HandlersOf<typeof E2eTestServiceService>,
  options: { guard?: AccessGuard; limits?: Partial<ListenerLimits>; access?: 'public' | 'device' } = {},
): Promise<Harness> {
  const logs = createCapturingDestination();
  const listener = new GrpcListener({
    name: 'test',
    host: '127.0.0.1',
    port: 0,
    credentials: grpc.ServerCredentials.createInsecure(),
    guard: options.guard ?? openGuard,
    logger: createLogger({ service: 'test', destination: logs }),
    limits: options.limits,
  });
  const access = options.access ?? 'public';
  listener.addService(defineService(E2eTestServiceService, handlers, { encryptText: { access }, decryptText: { access } }));
  const port = await listener.start();
  started.push(listener);
  return { listener, address: `127.0.0.1:${port}`, logs };
}

function encryptText(address: string, plainText: string, deadlineMs?: number) {
  const client = new E2eTestServiceClient(address, grpc.credentials.createInsecure());
  return new Promise<{ encryptedText: string }>((resolve, reject) =>
    client.encryptText(
      { plainText, provider: 1, sessionId: 's' },
      new grpc.Metadata(),
      deadlineMs ? { deadline: Date.now() + deadlineMs } : {},
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res);
      },
    ),
  );
}

/** A listener serving one stream method (public), and a client of it. */
async function startNotificationService(
  subscribeNotification: NonNullable<HandlersOf<typeof NotificationServiceService>['subscribeNotification']>,
  logger = createLogger({ service: 'test', destination: createCapturingDestination() }),
): Promise<{ listener: GrpcListener; client: NotificationServiceClient }> {
  const listener = new GrpcListener({
    name: 'test',
    host: '127.0.0.1',
    port: 0,
    credentials: grpc.ServerCredentials.createInsecure(),
    guard: openGuard,
    logger,
  });
  listener.addService(
    defineService(NotificationServiceService, { subscribeNotification }, { subscribeNotification: { access: 'public' } }),
  );
  const port = await listener.start();
  started.push(listener);
  return { listener, client: new NotificationServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) };
}

describe('GrpcListener', () => {
  it('serves a handler and answers UNIMPLEMENTED for a method without one', async () => {
    const { address } = await startE2eTestService({ encryptText: async (req) => ({ encryptedText: req.plainText.toUpperCase() }) });
    expect(await encryptText(address, 'abc')).toEqual({ encryptedText: 'ABC' });
    const client = new E2eTestServiceClient(address, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) => client.decryptText({ encryptedMessage: undefined }, (e) => resolve(e!)));
    client.close();
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('aborts the handler signal at the deadline and answers DEADLINE_EXCEEDED', async () => {
    let sawAbort = false;
    const { address } = await startE2eTestService({
      encryptText: (_req, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(new Error('aborted'));
          }),
        ),
    });
    const err = (await encryptText(address, 'x', 200).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 100));
    expect(sawAbort).toBe(true);
  });

  it('refuses a request over the size limit with RESOURCE_EXHAUSTED before the handler runs', async () => {
    let called = false;
    const { address } = await startE2eTestService(
      {
        encryptText: async () => {
          called = true;
          return { encryptedText: '' };
        },
      },
      { limits: { maxReceiveMessageBytes: 1024 } },
    );
    const err = (await encryptText(address, 'x'.repeat(4096)).catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(called).toBe(false);
    expect(await encryptText(address, 'small')).toBeDefined();
  });

  it('hides a thrown error behind INTERNAL and logs its cause', async () => {
    const { address, logs } = await startE2eTestService({
      encryptText: async () => {
        throw new Error('db password leaked in message');
      },
    });
    const err = (await encryptText(address, 'x').catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe('internal error');
    expect(JSON.stringify(err.metadata.getMap())).not.toContain('leaked');
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNKNOWN_ERROR);
    expect(logs.text()).toContain('db password leaked in message');
  });

  it('answers a handler that throws before returning its promise as one that rejects (unary and stream)', async () => {
    const { address, logs } = await startE2eTestService({
      encryptText: () => {
        throw new Error('thrown synchronously');
      },
    });
    const err = (await encryptText(address, 'x').catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(logs.text()).toContain('thrown synchronously');

    const { client } = await startNotificationService(() => {
      throw new Error('stream handler thrown synchronously');
    });
    const call = client.subscribeNotification({});
    call.on('error', () => undefined);
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    client.close();
    expect(status.code).toBe(grpc.status.INTERNAL);
  });

  it("sends a stream's headers (its request id) once access is granted, before any event", async () => {
    const { client } = await startNotificationService(
      (_req, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
    );
    const md = new grpc.Metadata();
    md.set('x-request-id', 'headers-first-1');
    const call = client.subscribeNotification({}, md);
    call.on('error', () => undefined);
    const headers = await new Promise<grpc.Metadata>((resolve) => call.on('metadata', resolve));
    expect(headers.get('x-request-id')).toEqual(['headers-first-1']);
    call.cancel();
    client.close();
  });

  it('refuses a device method without a client certificate and never runs the handler', async () => {
    let called = false;
    const guard = createMobileAccessGuard({ verifyDevice: async () => ({ deviceId: '1', certificateDer: new Uint8Array() }) });
    const { address } = await startE2eTestService(
      {
        encryptText: async () => {
          called = true;
          return { encryptedText: '' };
        },
      },
      { guard, access: 'device' },
    );
    const err = (await encryptText(address, 'x').catch((e) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    expect(called).toBe(false);
  });

  it('lets a running call finish during graceful shutdown', async () => {
    const { listener, address } = await startE2eTestService({
      encryptText: async (req) => {
        await new Promise((r) => setTimeout(r, 300));
        return { encryptedText: req.plainText };
      },
    });
    started.splice(started.indexOf(listener), 1);
    const inFlight = encryptText(address, 'finish me');
    await new Promise((r) => setTimeout(r, 100));
    const shutdown = listener.shutdown(5_000);
    expect(await inFlight).toEqual({ encryptedText: 'finish me' });
    await shutdown;
    const after = (await encryptText(address, 'late', 1000).catch((e) => e)) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(after.code);
  });

  it("makes a call's child logger only when something logs: an idle stream holds none, its end line still has the bindings", async () => {
    const logs = createCapturingDestination();
    const logger = createLogger({ service: 'test', destination: logs });
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof logger.child>) => {
      children++;
      return child(...args);
    }) as typeof logger.child;
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const { client } = await startNotificationService(async (_req, ctx) => {
      opened();
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    }, logger);
    const md = new grpc.Metadata();
    md.set('x-request-id', 'idle-stream-1');
    const call = client.subscribeNotification({}, md);
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    await open;
    expect(children).toBe(0);
    call.cancel();
    await ended;
    const records = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    await vi.waitFor(() => expect(records().some((r) => r.request_id === 'idle-stream-1')).toBe(true));
    client.close();
    expect(children).toBe(1);
    const line = records().find((r) => r.request_id === 'idle-stream-1');
    expect(line).toMatchObject({ listener: 'test', method: '/kfrm.api.notification.NotificationService/SubscribeNotification' });
  });

  it("tells a stream's end watcher when the client cancels, and ctx.signal read afterwards is already aborted", async () => {
    let watched!: () => void;
    const told = new Promise<void>((resolve) => (watched = resolve));
    let after: { ended: boolean; signalAborted: boolean; write: unknown } | undefined;
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const { client } = await startNotificationService(async (_req, ctx, stream) => {
      await new Promise<void>((resolve) => {
        stream.watchEnd({
          callEnded() {
            watched();
            resolve();
          },
        });
        opened();
      });
      const write = await stream.write({ id: '1', title: 't', content: 'c', type: NotificationEventType.TRANSFER_SUCCEED }).catch((e) => e);
      after = { ended: stream.ended, signalAborted: ctx.signal.aborted, write };
    });
    const call = client.subscribeNotification({});
    call.on('error', () => undefined);
    await open;
    call.cancel();
    await told;
    await vi.waitFor(() => expect(after).toBeDefined());
    client.close();
    expect(after).toMatchObject({ ended: true, signalAborted: true });
    expect(after!.write).toBeInstanceOf(Error);
  });

  it("tells a stream's end watcher at shutdown; a watcher replaced by undefined is not told", async () => {
    const calls: string[] = [];
    let opened = 0;
    const { listener, client } = await startNotificationService(async (_req, _ctx, stream) => {
      const name = `stream-${++opened}`;
      await new Promise<void>((resolve) => {
        stream.watchEnd({
          callEnded() {
            calls.push(name);
            resolve();
          },
        });
        if (name === 'stream-2') {
          stream.watchEnd(undefined);
          setTimeout(resolve, 300);
        }
      });
    });
    const first = client.subscribeNotification({});
    first.on('error', () => undefined);
    first.on('data', () => undefined);
    await vi.waitFor(() => expect(opened).toBe(1));
    const second = client.subscribeNotification({});
    second.on('error', () => undefined);
    second.on('data', () => undefined);
    await vi.waitFor(() => expect(opened).toBe(2));
    await listener.shutdown(2_000);
    client.close();
    expect(calls).toEqual(['stream-1']);
  });

  it('ends server streams cleanly on shutdown', async () => {
    const { listener, client } = await startNotificationService(async (_req, ctx, stream) => {
      let n = 0;
      while (!ctx.signal.aborted) {
        await stream.write({ id: String(++n), title: 't', content: 'c', type: NotificationEventType.TRANSFER_SUCCEED });
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    const call = client.subscribeNotification({});
    const received: NotificationEventResponse[] = [];
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (event: NotificationEventResponse) => received.push(event));
    call.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 150));
    await listener.shutdown(2_000);
    const status = await ended;
    client.close();
    expect(received.length).toBeGreaterThan(0);
    expect(status.code).toBe(grpc.status.OK);
  });
});
