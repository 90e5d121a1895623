// ListTransactions in cursor mode: date range in Asia/Seoul days, direction, keyset pages.
import { InvalidArgumentError } from '@kfrm/errors';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountRow } from './ledger.repository';
import { LEDGER_SCHEMA } from './ledger.table';
import { krw, openTestLedger, type TestLedger } from './testing/ledger.harness';

describe('statement filters with cursor pagination', () => {
  let t: TestLedger;
  let alice: AccountRow;
  let bob: AccountRow;

  /**
   * Moves an entry to a given instant, as if it had been posted then. Entries are append-only (a
   * trigger refuses updates); this fresh test database lifts that for the one update.
   */
  async function postedAt(idempotencyKey: string, iso: string) {
    await t.db.transaction().execute(async (trx) => {
      await sql`alter table ${sql.table(`${LEDGER_SCHEMA}.entries`)} disable trigger user`.execute(trx);
      await trx
        .updateTable('entries')
        .set({ created_at: new Date(iso) })
        .where('idempotency_key', '=', idempotencyKey)
        .execute();
      await sql`alter table ${sql.table(`${LEDGER_SCHEMA}.entries`)} enable trigger user`.execute(trx);
    });
  }

  beforeAll(async () => {
    t = await openTestLedger();
    alice = await t.ledger.createAccount({ ownerUserId: 'alice', name: 'main', currency: 'KRW' });
    bob = await t.ledger.createAccount({ ownerUserId: 'bob', name: 'main', currency: 'KRW' });
    // Alice: deposits of 1000..5000 and transfers out of 100..300, on Seoul days 1-5 March.
    const plan: [string, string][] = [
      ['d1', '2026-03-01T00:00:00+09:00'], // first instant of 1 March in Seoul (28 Feb in UTC)
      ['w1', '2026-03-01T23:59:59.999+09:00'],
      ['d2', '2026-03-02T12:00:00+09:00'],
      ['w2', '2026-03-03T08:59:59+09:00'],
      ['d3', '2026-03-03T09:00:00+09:00'],
      ['d4', '2026-03-04T10:00:00+09:00'],
      ['w3', '2026-03-05T00:00:00+09:00'],
      ['d5', '2026-03-05T15:00:00+09:00'],
    ];
    let n = 0;
    for (const [label] of plan) {
      n++;
      if (label.startsWith('d')) {
        await t.ledger.deposit({ idempotencyKey: label, accountNumber: alice.accountNumber, amount: krw(1000 * n), memo: label });
      } else {
        await t.ledger.postTransfer({
          idempotencyKey: label,
          fromAccountNumber: alice.accountNumber,
          toAccountNumber: bob.accountNumber,
          amount: krw(100 * n),
          debitMemo: label,
          creditMemo: label,
          sourceOwnerUserId: 'alice',
          events: [],
        });
      }
    }
    for (const [label, iso] of plan) await postedAt(label, iso);
  }, 60_000);
  afterAll(async () => t?.close());

  const memos = (page: { lines: { memo: string }[] }) => page.lines.map((l) => l.memo);

  it('shows only the Seoul days asked for, both ends inclusive, newest first', async () => {
    const page = await t.ledger.listTransactionsFiltered('alice', alice.accountNumber, {
      fromDate: '2026-03-01',
      toDate: '2026-03-03',
      direction: 'ALL',
      pageSize: 50,
    });
    expect(memos(page)).toEqual(['d3', 'w2', 'd2', 'w1', 'd1']);
    expect(page.nextPageToken).toBe('');
  });

  it('filters by direction: deposits are money in, withdrawals money out', async () => {
    const deposits = await t.ledger.listTransactionsFiltered('alice', alice.accountNumber, { direction: 'DEPOSITS', pageSize: 50 });
    expect(memos(deposits)).toEqual(['d5', 'd4', 'd3', 'd2', 'd1']);
    const withdrawals = await t.ledger.listTransactionsFiltered('alice', alice.accountNumber, {
      direction: 'WITHDRAWALS',
      fromDate: '2026-03-02',
      pageSize: 50,
    });
    expect(memos(withdrawals)).toEqual(['w3', 'w2']);
    // Bob received the transfers: on his statement they are deposits.
    const bobIn = await t.ledger.listTransactionsFiltered('bob', bob.accountNumber, { direction: 'DEPOSITS', pageSize: 50 });
    expect(memos(bobIn)).toEqual(['w3', 'w2', 'w1']);
  });

  it('pages with the cursor without gaps or repeats, and a new posting does not shift later pages', async () => {
    const seen: string[] = [];
    let token = '';
    let first = true;
    do {
      const page = await t.ledger.listTransactionsFiltered('alice', alice.accountNumber, {
        direction: 'ALL',
        toDate: '2026-03-31',
        pageSize: 3,
        pageToken: token,
      });
      expect(page.lines.length).toBeLessThanOrEqual(3);
      seen.push(...memos(page));
      token = page.nextPageToken;
      if (first) {
        first = false;
        await t.ledger.deposit({ idempotencyKey: 'late', accountNumber: alice.accountNumber, amount: krw(7), memo: 'late' });
        await postedAt('late', '2026-03-04T11:00:00+09:00');
      }
    } while (token !== '');
    expect(seen).toEqual(['d5', 'w3', 'd4', 'd3', 'w2', 'd2', 'w1', 'd1']);
  });

  it('refuses bad dates, a reversed range and a forged token with INVALID_ARGUMENT', async () => {
    for (const query of [
      { fromDate: '2026-02-30' },
      { fromDate: '2026-13-01' },
      { toDate: '20260301' },
      { fromDate: '2026-03-05', toDate: '2026-03-01' },
      { pageToken: 'not-a-token' },
      { pageToken: 'c1.-5' },
    ]) {
      await expect(
        t.ledger.listTransactionsFiltered('alice', alice.accountNumber, { direction: 'ALL', pageSize: 10, ...query }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });

  it("answers ACCOUNT_NOT_FOUND for someone else's account", async () => {
    await expect(t.ledger.listTransactionsFiltered('bob', alice.accountNumber, { direction: 'ALL', pageSize: 10 })).rejects.toMatchObject({
      code: 'ACCOUNT_NOT_FOUND',
    });
  });
});
