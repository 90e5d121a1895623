import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kfrm/logging';
import { descriptorSetPath } from '@kfrm/proto';
import { TabMenuServiceService } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { defineService } from './define-service';
import { GrpcListener } from './grpc-listener';

const buf = resolve(fileURLToPath(new URL('../../../node_modules/.bin/buf', import.meta.url)));
const run = promisify(execFile);

// `buf curl` and grpcurl resolve the method through server reflection before calling it: health
// is only checkable with them when reflection lists grpc.health.v1.Health.
describe('grpc.health.v1 through reflection', () => {
  let listener: GrpcListener;
  beforeAll(async () => {
    listener = new GrpcListener({
      name: 'internal',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      guard: { authorize: async (level) => ({ level }) },
      logger: createLogger({ service: 'test', level: 'silent' }),
      descriptorSet: await readFile(descriptorSetPath),
    });
    const policies = Object.fromEntries(Object.keys(TabMenuServiceService).map((k) => [k, { access: 'public' as const }]));
    listener.addService(defineService(TabMenuServiceService, {}, policies as never));
    await listener.start();
  });
  afterAll(() => listener.shutdown(100));

  it('lists grpc.health.v1.Health and answers SERVING to buf curl', async () => {
    const base = `http://127.0.0.1:${listener.port}`;
    const list = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', base]);
    expect(list.stdout.split('\n')).toContain('grpc.health.v1.Health');
    const check = await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', `${base}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse(check.stdout)).toEqual({ status: 'SERVING' });
  }, 30_000);
});
