// Account closure in the ledger: zero balance, a close and a credit racing each other never leave
// a closed account with money, and a closed account is refused on either side of every posting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestLedger, type TestLedger } from './testing/ledger.harness';

describe('account closure in the ledger', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 8, lingerMs: 0, maxConcurrentBatches: 2 });
  }, 60_000);
  afterAll(async () => t?.close());

  const open = (owner: string) => t.ledger.createAccount({ ownerUserId: owner, name: '입출금통장', currency: 'KRW' });
  const krw = (minor: bigint) => ({ currency: 'KRW' as const, minor });
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: string }) => e.code ?? String(e),
    );
  let deposits = 0;
  const deposit = (accountNumber: string, minor: bigint) =>
    t.ledger.deposit({ idempotencyKey: `closure-deposit-${++deposits}`, accountNumber, amount: krw(minor), memo: 'in' });

  it('closes only at zero balance, idempotently, and refuses the closed account on either side', async () => {
    const a = await open('701');
    const b = await open('702');
    await deposit(a.accountNumber, 100n);
    expect(await codeOf(t.ledger.closeAccount('701', a.accountNumber))).toBe('ACCOUNT_BALANCE_NOT_ZERO');
    expect(await codeOf(t.ledger.closeAccount('702', a.accountNumber))).toBe('ACCOUNT_NOT_FOUND');
    await t.ledger.postTransfer({
      idempotencyKey: 'closure-empty-701',
      fromAccountNumber: a.accountNumber,
      toAccountNumber: b.accountNumber,
      amount: krw(100n),
      debitMemo: 'out',
      creditMemo: 'in',
      events: [],
    });
    const closed = await t.ledger.closeAccount('701', a.accountNumber);
    expect(closed.closedAt).toBeInstanceOf(Date);
    expect((await t.ledger.closeAccount('701', a.accountNumber)).closedAt).toEqual(closed.closedAt);

    expect(await codeOf(deposit(a.accountNumber, 1n))).toBe('ACCOUNT_NOT_FOUND');
    const transfer = (from: string, to: string, key: string) =>
      t.ledger.postTransfer({
        idempotencyKey: key,
        fromAccountNumber: from,
        toAccountNumber: to,
        amount: krw(1n),
        debitMemo: '',
        creditMemo: '',
        events: [],
      });
    expect(await codeOf(transfer(b.accountNumber, a.accountNumber, 'closure-into-701'))).toBe('INVALID_TARGET_ACCOUNT');
    expect(await codeOf(transfer(a.accountNumber, b.accountNumber, 'closure-from-701'))).toBe('INVALID_SOURCE_ACCOUNT');
    expect(await codeOf(t.ledger.getTransferTarget(a.accountNumber))).toBe('ACCOUNT_NOT_FOUND');
    // The statement stays, and the owner still finds the account by number.
    expect((await t.ledger.getAccountForOwner('701', a.accountNumber)).balanceMinor).toBe(0n);
    expect((await t.ledger.listTransactions('701', a.accountNumber, 1, 10, 'scope')).lines).toHaveLength(2);
    expect((await t.ledger.listAccounts('701')).map((x) => x.accountNumber)).not.toContain(a.accountNumber);
    expect((await t.ledger.listAllAccounts('701')).map((x) => x.accountNumber)).toContain(a.accountNumber);
  });

  it('never leaves a closed account holding money when a close and deposits race', async () => {
    for (let round = 0; round < 10; round++) {
      const owner = `71${round}`;
      const a = await open(owner);
      const results = await Promise.allSettled([
        t.ledger.closeAccount(owner, a.accountNumber),
        deposit(a.accountNumber, 5n),
        deposit(a.accountNumber, 7n),
      ]);
      const now = await t.ledger.getAccountForOwner(owner, a.accountNumber);
      if (now.closedAt !== null) expect(now.balanceMinor).toBe(0n);
      else expect(results[0]!.status).toBe('rejected');
      expect(now.balanceMinor === 0n || now.closedAt === null).toBe(true);
    }
  });
});
