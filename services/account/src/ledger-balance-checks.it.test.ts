// The double-entry checks (migration 007): every entry is checked once at COMMIT, and every
// statement that inserts postings checks the entries it touched once, at its end. Before 007 each
// entry was checked three times at COMMIT (once for the entry, once per posting), which cost a
// batch of 16 postings about 1.1 ms of PostgreSQL's time, against 0.35 ms now (docs/performance.md).
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountRow } from './ledger.repository';
import { krw, oneWonTransfer, openTestLedger, type TestLedger } from './testing/ledger.harness';

async function accountId(t: TestLedger, a: AccountRow): Promise<string> {
  return (await t.db.selectFrom('accounts').select('id').where('account_number', '=', a.accountNumber).executeTakeFirstOrThrow()).id;
}

/** One entry and the given postings (account id, amount), in one statement. */
function entryWithPostings(db: Kysely<any>, key: string, postings: [string, bigint][], seq: bigint) {
  const values = postings.map(
    ([account, amount], i) => sql`(${account}::bigint, ${amount.toString()}::bigint, ${(seq + BigInt(i)).toString()}::bigint)`,
  );
  return sql<{ id: string }>`
    with e as (
      insert into ledger.entries (idempotency_key, request_hash, kind, memo) values (${key}, ${'a'.repeat(64)}, 'DEPOSIT', '') returning id
    ), p as (
      insert into ledger.postings (entry_id, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
      select e.id, v.account, 'KRW', v.amount, 0, v.seq, '' from e, (values ${sql.join(values)}) as v (account, amount, seq)
    )
    select id from e`.execute(db);
}

describe('double-entry checks', () => {
  let t: TestLedger;
  let a: string;
  let b: string;
  let c: string;
  let seq = 1_000_000n;
  const nextSeq = () => (seq += 10n);
  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 32 });
    const from = await t.ledger.createAccount({ ownerUserId: 'chk-a', name: 'a', currency: 'KRW' });
    const to = await t.ledger.createAccount({ ownerUserId: 'chk-b', name: 'b', currency: 'KRW' });
    const third = await t.ledger.createAccount({ ownerUserId: 'chk-c', name: 'c', currency: 'KRW' });
    a = await accountId(t, from);
    b = await accountId(t, to);
    c = await accountId(t, third);
  }, 60_000);
  afterAll(async () => t?.close());

  it('accepts an entry written with balancing postings in one statement', async () => {
    const { rows } = await entryWithPostings(
      t.db,
      'chk-ok',
      [
        [a, -5n],
        [b, 5n],
      ],
      nextSeq(),
    );
    expect(rows).toHaveLength(1);
  });

  it('refuses a statement whose postings leave one of its entries unbalanced, and writes none of them', async () => {
    await expect(
      t.db.transaction().execute(async (trx) => {
        await entryWithPostings(
          trx,
          'chk-fine',
          [
            [a, -1n],
            [b, 1n],
          ],
          nextSeq(),
        );
        await entryWithPostings(trx, 'chk-one-sided', [[a, 1n]], nextSeq());
      }),
    ).rejects.toThrow(/journal entry \d+ does not balance/);
    const keys = await t.db
      .selectFrom('entries')
      .select('idempotency_key')
      .where('idempotency_key', 'in', ['chk-fine', 'chk-one-sided'])
      .execute();
    expect(keys).toEqual([]);
  });

  it('refuses a posting added later to a committed entry, also with constraints set immediate', async () => {
    const { rows } = await entryWithPostings(
      t.db,
      'chk-later',
      [
        [a, -3n],
        [b, 3n],
      ],
      nextSeq(),
    );
    const entryId = rows[0]!.id;
    const addPosting = (db: Kysely<any>) =>
      sql`insert into ledger.postings (entry_id, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
          values (${entryId}::bigint, ${c}::bigint, 'KRW', 1, 0, ${nextSeq().toString()}::bigint, '')`.execute(db);
    await expect(addPosting(t.db)).rejects.toThrow(/does not balance/);
    await expect(
      t.db.transaction().execute(async (trx) => {
        await sql`set constraints all immediate`.execute(trx);
        await addPosting(trx);
      }),
    ).rejects.toThrow(/does not balance/);
  });

  it('refuses an entry whose postings balance only across two statements (each statement must leave its entries balanced)', async () => {
    await expect(
      t.db.transaction().execute(async (trx) => {
        const { rows } = await entryWithPostings(trx, 'chk-split', [[a, -2n]], nextSeq());
        await sql`insert into ledger.postings (entry_id, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
          values (${rows[0]!.id}::bigint, ${b}::bigint, 'KRW', 2, 0, ${nextSeq().toString()}::bigint, '')`.execute(trx);
      }),
    ).rejects.toThrow(/does not balance/);
  });

  it('refuses an entry without postings at COMMIT', async () => {
    await expect(
      t.db.transaction().execute(async (trx) => {
        await sql`insert into ledger.entries (idempotency_key, request_hash, kind, memo) values ('chk-empty', ${'a'.repeat(64)}, 'DEPOSIT', '')`.execute(
          trx,
        );
      }),
    ).rejects.toThrow(/journal entry \d+ has no postings/);
  });
});

// Counting the checks needs PostgreSQL's function statistics (PGlite has no statistics collector).
describe.skipIf(!process.env.DATABASE_URL)('what the checks of one batch cost on PostgreSQL', () => {
  let t: TestLedger;
  let from: AccountRow;
  let to: AccountRow;
  beforeAll(async () => {
    // One connection: the statistics are this session's, and the batch runs on it.
    t = await openTestLedger({ poolMax: 1, maxBatchSize: 32 });
    from = await t.ledger.createAccount({ ownerUserId: 'cost-from', name: 'from', currency: 'KRW' });
    to = await t.ledger.createAccount({ ownerUserId: 'cost-to', name: 'to', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'cost-fund', accountNumber: from.accountNumber, amount: krw(1_000), memo: '' });
  }, 60_000);
  afterAll(async () => t?.close());

  async function checkCalls(): Promise<Record<string, number>> {
    const { rows } = await sql<{ funcname: string; calls: string }>`
      select funcname, calls from pg_stat_user_functions where schemaname = 'ledger'`.execute(t.db);
    return Object.fromEntries(rows.map((r) => [r.funcname, Number(r.calls)]));
  }

  it('checks each entry once and each statement of postings once: 8 postings in one batch, 9 checks', async () => {
    await sql`set track_functions = 'pl'`.execute(t.db);
    const before = await checkCalls();
    // Sent in one turn of the event loop: one batch, one transaction.
    await sql`select pg_stat_force_next_flush()`.execute(t.db);
    const posted = await Promise.all(Array.from({ length: 8 }, (_, i) => t.ledger.postTransfer(oneWonTransfer(from, to, `cost-${i}`))));
    expect(new Set(posted.map((p) => p.entryId)).size).toBe(8);
    await sql`select pg_stat_force_next_flush()`.execute(t.db);
    // The statistics reach shared memory when the session next goes idle.
    await new Promise((r) => setTimeout(r, 100));
    await sql`select pg_stat_clear_snapshot()`.execute(t.db);
    const after = await checkCalls();
    const calls = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    expect({
      entries: calls('entries_check_balanced'),
      postingsPerRow: calls('postings_check_balanced'),
      postingsPerStatement: calls('postings_check_balanced_statement'),
    }).toEqual({ entries: 8, postingsPerRow: 0, postingsPerStatement: 1 });
  });
});
