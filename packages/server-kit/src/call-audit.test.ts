import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { EncryptedMessage_ProviderType as Provider } from '@kfrm/proto/gen/kfrm/api/common/common';
import { KeyServiceClient, KeyServiceService } from '@kfrm/proto/gen/kfrm/api/key/key';
import type { AccessGuard } from './access';
import type { AuditRecord } from './call-audit';
import { defineService } from './define-service';
import { GrpcListener } from './grpc-listener';

const started: GrpcListener[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(started.splice(0).map((l) => l.shutdown(200)));
});

/** Calls carrying `x-test-operator` are an operator's; others a service's. */
const guard: AccessGuard = {
  async authorize(level, call) {
    const operator = call.metadata.get('x-test-operator')[0];
    return typeof operator === 'string' ? { level, operator: { subject: operator, roles: ['teller'] } } : { level, service: 'test' };
  },
};

async function setUp(append: (record: AuditRecord) => Promise<void>) {
  const handled: Provider[] = [];
  const listener = new GrpcListener({
    name: 'internal',
    host: '127.0.0.1',
    port: 0,
    credentials: grpc.ServerCredentials.createInsecure(),
    guard,
    logger: createLogger({ service: 'test', destination: createCapturingDestination() }),
    audit: { append },
  });
  listener.addService(
    defineService(
      KeyServiceService,
      {
        getKey: async (req) => {
          handled.push(req.provider);
          return { provider: req.provider, sessionId: 's', publicKey: 'pk' };
        },
      },
      {
        getKey: { access: 'internal', operator: ['teller'], audit: { action: 'key.get', target: (r) => `provider:${r.provider}` } },
        listKeys: { access: 'internal' },
      },
    ),
  );
  const port = await listener.start();
  started.push(listener);
  const client = new KeyServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(client);
  const call = (provider: Provider, operator?: string) =>
    new Promise<grpc.status>((resolve) => {
      const md = new grpc.Metadata();
      if (operator) md.set('x-test-operator', operator);
      client.getKey({ provider }, md, (err) => resolve(err ? err.code : grpc.status.OK));
    });
  return { handled, call };
}

describe('audited methods', () => {
  it('record an operator call before and after it runs, a service call after', async () => {
    const records: AuditRecord[] = [];
    const { call } = await setUp(async (r) => void records.push(r));
    expect(await call(Provider.AUTH, 'op-1')).toBe(grpc.status.OK);
    expect(await call(Provider.BANKING)).toBe(grpc.status.OK);
    expect(records).toEqual([
      { actorKind: 'operator', actor: 'op-1', action: 'key.get', target: 'provider:1', outcome: 'requested' },
      { actorKind: 'operator', actor: 'op-1', action: 'key.get', target: 'provider:1', outcome: 'ok' },
      { actorKind: 'service', actor: 'test', action: 'key.get', target: 'provider:2', outcome: 'ok' },
    ]);
  });

  it('refuse an operator call the audit log cannot record (UNAVAILABLE, the handler never runs)', async () => {
    const { call, handled } = await setUp(async () => {
      throw new Error('database down');
    });
    expect(await call(Provider.AUTH, 'op-1')).toBe(grpc.status.UNAVAILABLE);
    expect(handled).toEqual([]);
    // A service's call is not held up by the log (its failure is logged).
    expect(await call(Provider.BANKING)).toBe(grpc.status.OK);
    expect(handled).toEqual([Provider.BANKING]);
  });
});
