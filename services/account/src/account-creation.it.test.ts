// CreateAccount's idempotency key: a caller's retry after a lost answer (casa's CompleteOpening)
// must open exactly one account.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { openTestLedger, type TestLedger } from './testing/ledger.harness';
import { listAccountsOfOwner } from './ledger.repository';

describe('CreateAccount with an idempotency key', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 1, lingerMs: 0, maxConcurrentBatches: 2 });
  }, 60_000);
  afterAll(async () => t?.close());

  const open = (owner: string, key?: string) =>
    t.ledger.createAccount({ ownerUserId: owner, name: '입출금통장', currency: 'KRW', ...(key ? { idempotencyKey: key } : {}) });

  it('returns the first account for a repeated key, also when 10 calls race', async () => {
    const first = await open('501', 'casa-opening:501');
    const again = await open('501', 'casa-opening:501');
    expect(again.accountNumber).toBe(first.accountNumber);
    const raced = await Promise.all(Array.from({ length: 10 }, () => open('502', 'casa-opening:502')));
    expect(new Set(raced.map((a) => a.accountNumber)).size).toBe(1);
    expect(await listAccountsOfOwner(t.db, '502')).toHaveLength(1);
  });

  it("refuses another owner's key and creates nothing for it", async () => {
    await open('503', 'casa-opening:503');
    const err = await open('504', 'casa-opening:503').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await listAccountsOfOwner(t.db, '504')).toHaveLength(0);
  });

  it('opens a new account each time without a key', async () => {
    const a = await open('505');
    const b = await open('505');
    expect(a.accountNumber).not.toBe(b.accountNumber);
  });
});
