// With the real account module (its ledger and internal LedgerService over gRPC) instead of the
// fake: a posted transfer yields exactly one event per party, a refused one none at all.
// (services/account is reached by a relative path: @kfrm/service-account is not a dependency of
// this package, and adding one needs a workspace install.)
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { NotificationEventType } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { GrpcListener, internalAccessGuard, internalServerCredentials } from '@kfrm/server-kit';
import { testServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore, type Store } from '@kfrm/store';
import { ledgerHandlers } from '../../account/src/ledger.handlers';
import { krw, openTestLedger, type TestLedger } from '../../account/src/testing/ledger.harness';
import { migrations } from './migrations';
import { NOTIFICATION_SCHEMA } from './notification.table';
import { Instance, silentLogger, until } from './testing/notification.harness';

describe('notifications from the real ledger', () => {
  let t: TestLedger;
  let internal: GrpcListener;
  let pkiDir: string;
  let client: LedgerServiceClient;
  let store: Store;
  let node: Instance;

  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 8, lingerMs: 1 });
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
    store = createMemoryStore();
    node = await new Instance(t.database, store, () => client).start();
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    client?.close();
    await internal?.shutdown(1_000);
    rmSync(pkiDir, { recursive: true, force: true });
    await store?.close();
    await t?.close();
  });

  it('delivers one TRANSFER_SUCCEED to the sender and one to the recipient, and nothing for a refused transfer', async () => {
    const from = await t.ledger.createAccount({ ownerUserId: 'alice', name: 'from', currency: 'KRW' });
    const to = await t.ledger.createAccount({ ownerUserId: 'bob', name: 'to', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'fund', accountNumber: from.accountNumber, amount: krw(10_000), memo: '' });
    const alice = await node.subscribe('alice', 0n);
    const bob = await node.subscribe('bob', 0n);

    const transfer = (key: string, amount: number) =>
      t.ledger.postTransfer({
        idempotencyKey: key,
        fromAccountNumber: from.accountNumber,
        toAccountNumber: to.accountNumber,
        amount: krw(amount),
        debitMemo: 'to bob',
        creditMemo: 'from alice',
        events: [
          { userId: 'alice', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: 'B*b' },
          { userId: 'bob', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: '' },
        ],
      });
    await transfer('t1', 1_000);
    // Rolled back (insufficient balance): its events never exist.
    await expect(transfer('t2', 1_000_000)).rejects.toMatchObject({ code: 'INSUFFICIENT_BALANCE' });
    // A retry of the first posts nothing, so it writes no second event.
    await transfer('t1', 1_000);
    await transfer('t3', 2_000);

    await until(() => alice.events.length >= 2 && bob.events.length >= 2, "both parties' events");
    // A last transfer as a marker: a duplicate of the earlier events would arrive before it.
    await transfer('t4', 3_000);
    await until(() => alice.events.length >= 3 && bob.events.length >= 3, 'the marker transfer');
    // Worded here from the ledger's facts (amount and memo come from the entry).
    expect(alice.events.map((e) => [e.title, e.content])).toEqual(
      ['1,000', '2,000', '3,000'].map((won) => ['이체 완료', `B*b님에게 ${won}원을 보냈습니다.`]),
    );
    expect(bob.events.map((e) => [e.title, e.content])).toEqual(
      ['1,000', '2,000', '3,000'].map((won) => ['입금', `${won}원이 입금되었습니다. (from alice)`]),
    );
    const outbox = await t.ledger.listOutboxEvents(0n, 100);
    expect(outbox).toHaveLength(6);
    expect([...alice.ids(), ...bob.ids()].sort((x, y) => Number(x - y))).toEqual(outbox.map((e) => e.id));
    alice.call.cancel();
    bob.call.cancel();
  });

  it('relays an outbox row written in the old shape (rendered text, no facts) with its stored text', async () => {
    const from = await t.ledger.createAccount({ ownerUserId: 'carol', name: 'from', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'fund-carol', accountNumber: from.accountNumber, amount: krw(10_000), memo: '' });
    const entry = await t.db.selectFrom('entries').select('id').where('idempotency_key', '=', 'fund-carol').executeTakeFirstOrThrow();
    const carol = await node.subscribe('carol', 0n);
    // As the ledger wrote rows before migration 004 (the columns it knew, in its id order).
    await sql`with pos as (update ledger.outbox_position set last_id = last_id + 1 where singleton returning last_id)
      insert into ledger.outbox (id, entry_id, user_id, type, title, content)
      select pos.last_id, ${entry.id}::bigint, 'carol', 'TRANSFER_SUCCEED', '이체 완료', '김*수님에게 1,000원을 보냈습니다.' from pos`.execute(
      t.db,
    );
    await until(() => carol.events.length >= 1, 'the old-shape event');
    expect(carol.events).toEqual([
      {
        id: expect.any(String),
        title: '이체 완료',
        content: '김*수님에게 1,000원을 보냈습니다.',
        type: NotificationEventType.TRANSFER_SUCCEED,
      },
    ]);
    carol.call.cancel();
  });
  it('words top-ups, withdrawals and returned withdrawals posted by the funding service', async () => {
    const account = await t.ledger.createAccount({ ownerUserId: 'dave', name: 'dave', currency: 'KRW' });
    const dave = await node.subscribe('dave', 0n);
    const event = (kind: 'TOP_UP' | 'WITHDRAWAL' | 'WITHDRAWAL_RETURNED') => ({
      userId: 'dave',
      type: 'TRANSFER_SUCCEED' as const,
      kind,
      counterpartyName: '',
    });
    await t.ledger.deposit({
      idempotencyKey: 'dave-top-up',
      accountNumber: account.accountNumber,
      amount: krw(50_000),
      memo: '신한은행 충전',
      events: [event('TOP_UP')],
    });
    await t.ledger.postTransfer({
      idempotencyKey: 'dave-withdrawal',
      fromAccountNumber: account.accountNumber,
      toAccountNumber: '',
      toExternalSettlement: true,
      withdrawal: true,
      amount: krw(20_000),
      debitMemo: '신한은행 출금',
      creditMemo: '',
      sourceOwnerUserId: 'dave',
      events: [event('WITHDRAWAL')],
    });
    await t.ledger.deposit({
      idempotencyKey: 'dave-withdrawal-returned',
      accountNumber: account.accountNumber,
      amount: krw(20_000),
      memo: '신한은행 출금 취소',
      events: [event('WITHDRAWAL_RETURNED')],
    });
    await until(() => dave.events.length >= 3, "dave's events");
    expect(dave.events.map((e) => [e.title, e.content])).toEqual([
      ['충전', '50,000원이 충전되었습니다. (신한은행 충전)'],
      ['출금', '20,000원을 출금했습니다. (신한은행 출금)'],
      ['출금 취소', '출금이 거절되어 20,000원이 계좌로 돌아왔습니다.'],
    ]);
    dave.call.cancel();
  });
});
