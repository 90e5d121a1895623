// Commits wake the relay: with the relay's poll interval at a minute, an event posted by the real
// ledger (its commit announcer on the store, as the account module composes it) still reaches the
// stream within the test's timeout, long before any poll could have read it. Without the wake-up
// the first poll would come after 60 s and the test would time out.
// (services/account is reached by a relative path, as in account-outbox.it.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { GrpcListener, internalAccessGuard, internalServerCredentials } from '@kfrm/server-kit';
import { testServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@kfrm/store';
import { ledgerHandlers } from '../../account/src/ledger.handlers';
import { outboxCommitAnnouncer } from '../../account/src/outbox-commit-announcer';
import { krw, openTestLedger, type TestLedger } from '../../account/src/testing/ledger.harness';
import { migrations } from './migrations';
import { NOTIFICATION_SCHEMA } from './notification.table';
import { Instance, openSharedStores, silentLogger, testConfig, until } from './testing/notification.harness';

const POLL_MS = 60_000;

describe('ledger commits wake the outbox relay', () => {
  let t: TestLedger;
  let internal: GrpcListener;
  let pkiDir: string;
  let client: LedgerServiceClient;
  let stores: { stores: Store[]; close(): Promise<void> };
  let node: Instance;

  beforeAll(async () => {
    // Two handles on one store: the account service's and the notification service's.
    stores = await openSharedStores(2);
    t = await openTestLedger({ maxBatchSize: 8, lingerMs: 1, onOutboxCommitted: outboxCommitAnnouncer(stores.stores[0]!, silentLogger) });
    await migrateSchema(t.database, { schema: NOTIFICATION_SCHEMA, migrations });
    pkiDir = mkdtempSync(join(tmpdir(), 'kfrm-notification-pki-'));
    const identity = await testServiceIdentity(pkiDir, ['notification']);
    internal = new GrpcListener({
      name: 'internal',
      host: '127.0.0.1',
      port: 0,
      // mTLS, as in a split deployment: the relay calls as the notification service.
      credentials: internalServerCredentials(identity.listenerFiles),
      guard: internalAccessGuard,
      logger: silentLogger,
    });
    internal.addService(ledgerHandlers(t.ledger));
    const port = await internal.start();
    client = new LedgerServiceClient(`127.0.0.1:${port}`, identity.as('notification'));
    node = await new Instance(t.database, stores.stores[1]!, () => client, { ...testConfig, pollMs: POLL_MS }).start();
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    client?.close();
    await internal?.shutdown(1_000);
    rmSync(pkiDir, { recursive: true, force: true });
    await t?.close();
    await stores?.close();
  });

  it('delivers each posted transfer long before the next poll', async () => {
    const from = await t.ledger.createAccount({ ownerUserId: 'alice', name: 'from', currency: 'KRW' });
    const to = await t.ledger.createAccount({ ownerUserId: 'bob', name: 'to', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'fund', accountNumber: from.accountNumber, amount: krw(10_000), memo: '' });
    const alice = await node.subscribe('alice');
    const started = Date.now();
    for (const key of ['t1', 't2', 't3']) {
      await t.ledger.postTransfer({
        idempotencyKey: key,
        fromAccountNumber: from.accountNumber,
        toAccountNumber: to.accountNumber,
        amount: krw(1_000),
        debitMemo: '',
        creditMemo: '',
        events: [{ userId: 'alice', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: 'B*b' }],
      });
      const expected = Number(key.slice(1));
      await until(() => alice.events.length >= expected, `event ${key}`, POLL_MS / 2);
    }
    // Causality, not speed: all three arrived before the relay's first poll was due.
    expect(Date.now() - started).toBeLessThan(POLL_MS);
    expect(alice.events).toHaveLength(3);
    alice.call.cancel();
  });
});
