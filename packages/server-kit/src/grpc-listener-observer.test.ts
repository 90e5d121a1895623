import { AsyncLocalStorage } from 'node:async_hooks';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@kfrm/errors';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { E2eTestServiceClient, E2eTestServiceService } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import type { AccessGuard } from './access';
import { defineService } from './define-service';
import { GrpcListener, type CallObserver } from './grpc-listener';

const started: GrpcListener[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.shutdown(100)));
});

describe('GrpcListener observer hook', () => {
  it('starts, runs the guard and handler inside, and ends each call once with its status', async () => {
    const scope = new AsyncLocalStorage<string>();
    const events: string[] = [];
    const seenInGuard: Array<string | undefined> = [];
    const seenInHandler: Array<string | undefined> = [];
    const observer: CallObserver = {
      start({ path, requestId }) {
        events.push(`start ${path} ${requestId}`);
        return {
          logFields: { trace_id: `trace-of-${requestId}` },
          run: (fn) => scope.run(requestId, fn),
          end: (code, codeName) => events.push(`end ${requestId} ${code} ${codeName}`),
        };
      },
    };
    const guard: AccessGuard = {
      authorize: async (level) => {
        seenInGuard.push(scope.getStore());
        return { level };
      },
    };
    const logs = createCapturingDestination();
    const listener = new GrpcListener({
      name: 'test',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      guard,
      logger: createLogger({ service: 'test', destination: logs }),
      observer,
    });
    listener.addService(
      defineService(
        E2eTestServiceService,
        {
          async encryptText(request) {
            await new Promise((resolve) => setImmediate(resolve));
            seenInHandler.push(scope.getStore());
            if (request.plainText === '') throw new InvalidArgumentError('empty');
            return { encryptedText: request.plainText };
          },
        },
        { encryptText: { access: 'public' }, decryptText: { access: 'public' } },
      ),
    );
    const port = await listener.start();
    started.push(listener);
    const client = new E2eTestServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const send = (plainText: string, requestId: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-request-id', requestId);
      return new Promise<grpc.ServiceError | null>((resolve) =>
        client.encryptText({ plainText, provider: 1, sessionId: 's' }, metadata, (err) => resolve(err)),
      );
    };
    expect(await send('abc', 'r-ok')).toBeNull();
    expect((await send('', 'r-bad'))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    client.close();

    const path = '/kfrm.api.e2e.E2eTestService/EncryptText';
    expect(events).toEqual([
      `start ${path} r-ok`,
      'end r-ok 0 OK',
      `start ${path} r-bad`,
      `end r-bad ${grpc.status.INVALID_ARGUMENT} INVALID_ARGUMENT`,
    ]);
    expect(seenInGuard).toEqual(['r-ok', 'r-bad']);
    expect(seenInHandler).toEqual(['r-ok', 'r-bad']);
    const done = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.request_id === 'r-ok');
    expect(done.find((l) => l.msg === 'call done')).toMatchObject({ trace_id: 'trace-of-r-ok' });
  });

  it('makes no per-call child logger for lines its level leaves out, and still logs what it keeps', async () => {
    const logs = createCapturingDestination();
    const logger = createLogger({ service: 'test', destination: logs, level: 'warn' });
    const childrenMade: unknown[] = [];
    const child = logger.child.bind(logger);
    logger.child = ((bindings: Record<string, unknown>, options?: object) => {
      childrenMade.push(bindings);
      return child(bindings, options);
    }) as typeof logger.child;
    const listener = new GrpcListener({
      name: 'test',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      guard: { authorize: async (level) => ({ level }) },
      logger,
    });
    listener.addService(
      defineService(
        E2eTestServiceService,
        {
          async encryptText(request) {
            if (request.plainText === '') throw new InvalidArgumentError('empty');
            if (request.plainText === 'bug') throw new Error('a bug');
            return { encryptedText: request.plainText };
          },
        },
        { encryptText: { access: 'public' }, decryptText: { access: 'public' } },
      ),
    );
    const port = await listener.start();
    started.push(listener);
    const client = new E2eTestServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const send = (plainText: string) =>
      new Promise<grpc.ServiceError | null>((resolve) =>
        client.encryptText({ plainText, provider: 1, sessionId: 's' }, (err) => resolve(err)),
      );
    expect(await send('abc')).toBeNull();
    expect((await send(''))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // "call done" and "call rejected" are info lines: at warn nothing is written and no child is made.
    expect(childrenMade).toEqual([]);
    expect(logs.lines).toEqual([]);
    expect((await send('bug'))?.code).toBe(grpc.status.INTERNAL);
    client.close();
    // An unexpected error is an error line: it is written, with the call's fields.
    expect(childrenMade).toHaveLength(1);
    expect(logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'error', msg: 'call failed', method: '/kfrm.api.e2e.E2eTestService/EncryptText', listener: 'test' }),
    ]);
  });
});
