// GetTransferParties (issue 17): a transfer's source and target in one read, the source with
// what the daily limit has counted today (the counter the posting moves in its own transaction,
// read for the ledger's business day), and account writes that answer with the row they wrote.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krw, openTestLedger, type TestLedger } from './testing/ledger.harness';

describe('transfer parties and the daily counter', () => {
  let t: TestLedger;
  // The business day follows this clock: 2026-03-01 in Seoul until 15:00 UTC.
  let now = new Date('2026-03-01T14:00:00Z');
  const statements: string[] = [];

  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 1, lingerMs: 0, now: () => now, timeZone: 'Asia/Seoul' });
  }, 60_000);
  afterAll(async () => t?.close());

  /** Counts the statements the ledger runs while `fn` does (as they run: some queries are compiled once). */
  async function countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; count: number }> {
    const before = statements.length;
    const result = await fn();
    return { result, count: statements.length - before };
  }

  async function funded(owner: string, minor: bigint) {
    const account = await t.ledger.createAccount({
      ownerUserId: owner,
      name: `acct-${owner}`,
      currency: 'KRW',
      limitPerTransaction: krw(1_000_000),
      limitPerDay: krw(3_000_000),
    });
    if (minor > 0n)
      await t.ledger.deposit({ idempotencyKey: `fund-${owner}`, accountNumber: account.accountNumber, amount: krw(minor), memo: '' });
    return account;
  }

  it('answers the owner source and any open customer target in one statement; a side not found is undefined', async () => {
    const a = await funded('parties-a', 5_000_000n);
    const b = await funded('parties-b', 0n);
    // Counted as they run (results), not as they are built: some queries are compiled once.
    const logged = t.db.withPlugin({
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        statements.push('ran');
        return args.result;
      },
    });
    const { getTransferParties } = (await import('./ledger')).createLedger({
      db: logged,
      poster: t.poster,
      store: (await import('@kfrm/store')).createMemoryStore(),
      now: () => now,
    });
    const both = await countStatements(() => getTransferParties('parties-a', a.accountNumber, b.accountNumber));
    expect(both.count).toBe(1);
    expect(both.result.source?.accountNumber).toBe(a.accountNumber);
    expect(both.result.target).toMatchObject({ accountNumber: b.accountNumber, ownerUserId: 'parties-b' });

    // Someone else's source, an unknown target, a system account, a malformed number: unset.
    expect(await getTransferParties('parties-b', a.accountNumber, '3333-12345678905')).toEqual({ source: undefined, target: undefined });
    expect((await getTransferParties('parties-a', a.accountNumber, '0000-SETTLEMENT-KRW')).target).toBeUndefined();
    const malformed = await countStatements(() => getTransferParties('parties-a', "'; drop table x; --", ''));
    expect(malformed).toEqual({ result: { source: undefined, target: undefined }, count: 0 });
    // No target asked for (another institution's account): the source alone.
    expect((await getTransferParties('parties-a', a.accountNumber, '')).source?.accountNumber).toBe(a.accountNumber);
    // An owner id that is empty owns nothing.
    expect((await getTransferParties('', a.accountNumber, '')).source).toBeUndefined();
    // A closed target receives nothing; a closed source is answered (the caller refuses it).
    const closed = await t.ledger.createAccount({ ownerUserId: 'parties-b', name: 'closed', currency: 'KRW' });
    await t.ledger.closeAccount('parties-b', closed.accountNumber);
    expect((await getTransferParties('parties-a', a.accountNumber, closed.accountNumber)).target).toBeUndefined();
    expect((await getTransferParties('parties-b', closed.accountNumber, '')).source?.closedAt).not.toBeNull();
  });

  it('debitedToday counts transfers and withdrawals posted today, not deposits, and is zero once the day turns in Seoul', async () => {
    now = new Date('2026-03-01T14:00:00Z');
    const a = await funded('counter-a', 5_000_000n);
    const b = await funded('counter-b', 0n);
    const transfer = (key: string, minor: number) =>
      t.ledger.postTransfer({
        idempotencyKey: key,
        fromAccountNumber: a.accountNumber,
        toAccountNumber: b.accountNumber,
        amount: krw(minor),
        debitMemo: '',
        creditMemo: '',
        events: [],
      });
    const debited = async () => t.ledger.debitedToday((await t.ledger.getTransferParties('counter-a', a.accountNumber, '')).source!);

    expect(await debited()).toBe(0n);
    await transfer('counter-1', 1_000_000);
    await t.ledger.postTransfer({
      idempotencyKey: 'counter-withdrawal',
      fromAccountNumber: a.accountNumber,
      toAccountNumber: '',
      toExternalSettlement: true,
      withdrawal: true,
      amount: krw(500_000),
      debitMemo: '',
      creditMemo: '',
      events: [],
    });
    expect(await debited()).toBe(1_500_000n);
    // The credited side counts nothing.
    expect(t.ledger.debitedToday(await t.ledger.getAccountForOwner('counter-b', b.accountNumber))).toBe(0n);
    // A refused posting (over the daily limit) counts nothing either.
    await transfer('counter-2', 1_000_000);
    await expect(transfer('counter-3', 1_000_000)).rejects.toMatchObject({ code: 'TRANSFER_LIMIT_EXCEEDED' });
    expect(await debited()).toBe(2_500_000n);

    // 00:00 in Seoul (15:00 UTC): a new day, nothing counted yet, and the full limit again.
    now = new Date('2026-03-01T15:00:00Z');
    expect(await debited()).toBe(0n);
    await transfer('counter-4', 1_000_000);
    expect(await debited()).toBe(1_000_000n);
    // Stored as the day it belongs to: the same row read a day later counts nothing.
    now = new Date('2026-03-03T00:00:00Z');
    expect(await debited()).toBe(0n);
  });

  it('account writes answer the row as written (RETURNING), with no read after the write', async () => {
    now = new Date('2026-03-01T10:00:00Z');
    // Counted as they run (results), not as they are built: some queries are compiled once.
    const logged = t.db.withPlugin({
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        statements.push('ran');
        return args.result;
      },
    });
    const ledger = (await import('./ledger')).createLedger({
      db: logged,
      poster: t.poster,
      store: (await import('@kfrm/store')).createMemoryStore(),
      now: () => now,
    });
    const created = await countStatements(() =>
      ledger.createAccount({ ownerUserId: 'writes', name: 'writes', currency: 'KRW', idempotencyKey: 'writes-1' }),
    );
    // The insert only (no key lookup before it finds nothing: one statement for that, one insert).
    expect(created.count).toBe(2);
    expect(created.result).toMatchObject({ ownerUserId: 'writes', name: 'writes', balanceMinor: 0n, dayDebitedOn: null });
    const again = await countStatements(() =>
      ledger.createAccount({ ownerUserId: 'writes', name: 'writes', currency: 'KRW', idempotencyKey: 'writes-1' }),
    );
    expect(again).toMatchObject({ count: 1, result: { accountNumber: created.result.accountNumber } });

    const limits = await countStatements(() =>
      ledger.setTransferLimits({
        ownerUserId: 'writes',
        accountNumber: created.result.accountNumber,
        perTransaction: krw(10),
        perDay: krw(20),
      }),
    );
    // The owner check's read, then the update that returns the row.
    expect(limits.count).toBe(2);
    expect(limits.result).toMatchObject({ limitPerTransactionMinor: 10n, limitPerDayMinor: 20n });

    const shown = await countStatements(() =>
      ledger.updateAccount('writes', created.result.accountNumber, { name: 'shown', bookmarked: true }),
    );
    expect(shown.count).toBe(2);
    expect(shown.result).toMatchObject({ name: 'shown', bookmarked: true, limitPerDayMinor: 20n });

    const closed = await countStatements(() => ledger.closeAccount('writes', created.result.accountNumber));
    expect(closed.count).toBe(2);
    expect(closed.result.closedAt).toBeInstanceOf(Date);
    const row = await sql<{
      closed_at: Date;
    }>`select closed_at from ledger.accounts where account_number = ${created.result.accountNumber}`.execute(t.db);
    expect(row.rows[0]!.closed_at.getTime()).toBe(closed.result.closedAt!.getTime());
  });
});
