import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestLedger, krw, type TestLedger } from './test-ledger';

describe('ledger basics', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await openTestLedger();
  }, 60_000);
  afterAll(async () => t?.close());

  it('opens accounts, deposits and transfers', async () => {
    const a = await t.ledger.createAccount({ ownerUserId: '1', name: 'A', currency: 'KRW' });
    const b = await t.ledger.createAccount({ ownerUserId: '2', name: 'B', currency: 'KRW' });
    expect(a.accountNumber).toMatch(/^3333-\d{11}$/);
    const d = await t.ledger.deposit({ idempotencyKey: 'd1', accountNumber: a.accountNumber, amount: krw(5000), memo: 'in' });
    expect(d.to.balanceAfter.minor).toBe(5000n);
    const r = await t.ledger.postTransfer({
      idempotencyKey: 't1',
      fromAccountNumber: a.accountNumber,
      toAccountNumber: b.accountNumber,
      amount: krw(1200),
      debitMemo: 'to b',
      creditMemo: 'from a',
      events: [{ userId: '1', type: 'TRANSFER_SUCCEED', title: 't', content: 'c' }],
    });
    expect(r.from.balanceAfter.minor).toBe(3800n);
    expect(r.to.balanceAfter.minor).toBe(1200n);
    const events = await t.ledger.listOutboxEvents(0n, 10);
    expect(events.map((e) => e.id)).toEqual([1n]);
  });
});
