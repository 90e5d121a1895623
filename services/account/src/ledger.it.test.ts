// The ledger's promises (docs/reliability.md items 1-8), against PGlite and, with
// DATABASE_URL set, real Postgres, each with batching on and off.
import { DomainError, InvalidArgumentError } from '@kfrm/errors';
import { TransactionConflictError } from '@kfrm/db';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostResult } from './ledger-poster';
import { LedgerPoster } from './ledger-poster';
import { createLedger, type PostTransferInput } from './ledger';
import type { AccountRow } from './ledger.repository';
import { krw, openTestLedger, type TestLedger } from './testing/ledger.harness';
import { createMemoryStore } from '@kfrm/store';

const onPostgres = Boolean(process.env.DATABASE_URL);

/** Deterministic PRNG (mulberry32): the same seed gives the same workload. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    if (err instanceof TransactionConflictError) return 'ABORTED';
    throw err;
  }
}

/** Runs tasks with at most `limit` at once. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

const modes = [
  { name: 'batched', options: { maxBatchSize: 16, lingerMs: 2, maxConcurrentBatches: 4 } },
  { name: 'unbatched', options: { maxBatchSize: 1, lingerMs: 0, maxConcurrentBatches: 12 } },
];

for (const mode of modes) {
  describe(`ledger (${mode.name})`, () => {
    let t: TestLedger;
    let seq = 0;
    const key = (label: string) => `${mode.name}-${label}-${++seq}`;

    beforeAll(async () => {
      t = await openTestLedger(mode.options);
    }, 60_000);
    afterAll(async () => t?.close());

    async function funded(owner: string, minor: bigint, limits: { perTransaction?: bigint; perDay?: bigint } = {}): Promise<AccountRow> {
      const account = await t.ledger.createAccount({
        ownerUserId: owner,
        name: `acct-${owner}`,
        currency: 'KRW',
        ...(limits.perTransaction ? { limitPerTransaction: krw(limits.perTransaction) } : {}),
        ...(limits.perDay ? { limitPerDay: krw(limits.perDay) } : {}),
      });
      if (minor > 0n)
        await t.ledger.deposit({ idempotencyKey: key('fund'), accountNumber: account.accountNumber, amount: krw(minor), memo: 'fund' });
      return account;
    }

    async function balanceOf(accountNumber: string): Promise<bigint> {
      const row = await t.db
        .selectFrom('accounts')
        .select('balance_minor')
        .where('account_number', '=', accountNumber)
        .executeTakeFirstOrThrow();
      return BigInt(row.balance_minor);
    }

    async function entryCount(idempotencyKey: string): Promise<number> {
      const rows = await t.db.selectFrom('entries').select('id').where('idempotency_key', '=', idempotencyKey).execute();
      return rows.length;
    }

    const transfer = (from: AccountRow, to: AccountRow, minor: bigint, idempotencyKey: string, extra: Partial<PostTransferInput> = {}) =>
      t.ledger.postTransfer({
        idempotencyKey,
        fromAccountNumber: from.accountNumber,
        toAccountNumber: to.accountNumber,
        amount: krw(minor),
        debitMemo: 'out',
        creditMemo: 'in',
        events: [],
        ...extra,
      });

    it('reads made at once (they share statements) answer each caller with its own account, or refuse', async () => {
      const accounts = await Promise.all(
        ['r1', 'r2', 'r3', 'r4'].map((owner, i) => funded(`${mode.name}-${owner}`, BigInt(100 * (i + 1)))),
      );
      const [a, b, c, d] = accounts as [AccountRow, AccountRow, AccountRow, AccountRow];
      const reads = [
        () => t.ledger.getAccountForOwner(a.ownerUserId!, a.accountNumber),
        () => t.ledger.getAccountForOwner(b.ownerUserId!, b.accountNumber),
        () => t.ledger.getAccountForOwner(a.ownerUserId!, b.accountNumber),
        () => t.ledger.getTransferTarget(c.accountNumber),
        () => t.ledger.getTransferTarget('9999-0000-0000'),
        () => t.ledger.getAccountForOwner(d.ownerUserId!, d.accountNumber),
        () => t.ledger.getAccountForOwner(a.ownerUserId!, a.accountNumber),
      ];
      const answers = await Promise.all(
        reads.map((read) =>
          read().then(
            (acc) => `${acc.accountNumber}:${acc.balanceMinor}`,
            (err: unknown) => codeOf(Promise.reject(err)),
          ),
        ),
      );
      expect(answers).toEqual([
        `${a.accountNumber}:100`,
        `${b.accountNumber}:200`,
        'ACCOUNT_NOT_FOUND',
        `${c.accountNumber}:300`,
        'ACCOUNT_NOT_FOUND',
        `${d.accountNumber}:400`,
        `${a.accountNumber}:100`,
      ]);
      // Each caller has its own object, though the two reads of `a` shared a row.
      const [first, second] = await Promise.all([
        t.ledger.getAccountForOwner(a.ownerUserId!, a.accountNumber),
        t.ledger.getAccountForOwner(a.ownerUserId!, a.accountNumber),
        t.ledger.getAccountForOwner(a.ownerUserId!, a.accountNumber),
      ]).then((all) => [all[1]!, all[2]!]);
      expect(first).toEqual(second);
      expect(first).not.toBe(second);
    });

    it('conservation: random concurrent transfers keep the total, never go negative, balances equal their postings, acknowledged ones posted once', async () => {
      const random = prng(20261124);
      const initial = [3_000n, 4_000n, 5_000n, 6_000n, 7_000n];
      const accounts = await Promise.all(initial.map((minor, i) => funded(`conserve-${i}`, minor)));
      const total = initial.reduce((s, m) => s + m, 0n);
      const count = onPostgres ? 2_000 : 300;
      const requests = Array.from({ length: count }, (_, i) => {
        const from = accounts[Math.floor(random() * accounts.length)]!;
        let to = accounts[Math.floor(random() * accounts.length)]!;
        if (to === from) to = accounts[(accounts.indexOf(from) + 1) % accounts.length]!;
        return { from, to, minor: BigInt(1 + Math.floor(random() * 3_000)), key: key(`c${i}`), retries: random() < 0.2 ? 2 : 0 };
      });
      const acknowledged = new Map<string, PostResult>();
      const refused = new Set<string>();
      await pool(
        requests.map((r) => async () => {
          // A client that retries the same call (same key) now and then, as after a lost reply.
          const attempts = await Promise.allSettled(Array.from({ length: 1 + r.retries }, () => transfer(r.from, r.to, r.minor, r.key)));
          const ok = attempts.filter((a): a is PromiseFulfilledResult<PostResult> => a.status === 'fulfilled').map((a) => a.value);
          if (ok.length > 0) {
            // Every reply to the same key is the same reply.
            for (const o of ok) expect(o).toEqual(ok[0]);
            acknowledged.set(r.key, ok[0]!);
          } else {
            for (const a of attempts) expect((a as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
            refused.add(r.key);
          }
        }),
        32,
      );
      expect(acknowledged.size).toBeGreaterThan(count / 4);

      const balances = await t.db.selectFrom('accounts').select(['id', 'account_number', 'balance_minor', 'kind']).execute();
      const customers = balances.filter((b) => accounts.some((a) => a.accountNumber === b.account_number));
      expect(customers.reduce((s, b) => s + BigInt(b.balance_minor), 0n)).toBe(total);
      for (const b of customers) expect(BigInt(b.balance_minor)).toBeGreaterThanOrEqual(0n);
      // Each balance is the sum of its journal lines (every account, system ones too).
      const sums = await t.db
        .selectFrom('postings')
        .select(['account_id', sql<string>`sum(amount_minor)`.as('sum')])
        .groupBy('account_id')
        .execute();
      for (const b of balances) expect(BigInt(sums.find((s) => s.account_id === b.id)?.sum ?? '0')).toBe(BigInt(b.balance_minor));
      // Every entry balances; every acknowledged key is there once with the acknowledged id; no refused key is.
      const unbalanced = await sql`select entry_id from ledger.postings group by entry_id having sum(amount_minor) <> 0`.execute(t.db);
      expect(unbalanced.rows).toEqual([]);
      const keys = [...acknowledged.keys(), ...refused];
      const entries = await t.db.selectFrom('entries').select(['id', 'idempotency_key']).where('idempotency_key', 'in', keys).execute();
      expect(entries).toHaveLength(acknowledged.size);
      for (const e of entries) expect(BigInt(e.id)).toBe(acknowledged.get(e.idempotency_key)?.entryId);
    }, 120_000);

    it('lost update: balance 5000, six concurrent debits of 1000 -> exactly five succeed', async () => {
      const from = await funded('lost-a', 5_000n);
      const to = await funded('lost-b', 0n);
      const codes = await Promise.all(Array.from({ length: 6 }, (_, i) => codeOf(transfer(from, to, 1_000n, key(`lost${i}`)))));
      expect(codes.filter((c) => c === 'OK')).toHaveLength(5);
      expect(codes.filter((c) => c === 'INSUFFICIENT_BALANCE')).toHaveLength(1);
      expect(await balanceOf(from.accountNumber)).toBe(0n);
      expect(await balanceOf(to.accountNumber)).toBe(5_000n);
    });

    it('shared daily limit: two concurrent transfers that each fit but not together -> one refused', async () => {
      const from = await funded('limit-a', 100_000n, { perTransaction: 8_000n, perDay: 10_000n });
      const to = await funded('limit-b', 0n);
      const codes = await Promise.all([codeOf(transfer(from, to, 6_000n, key('day1'))), codeOf(transfer(from, to, 6_000n, key('day2')))]);
      expect(codes.sort()).toEqual(['OK', 'TRANSFER_LIMIT_EXCEEDED']);
      expect(await codeOf(transfer(from, to, 9_000n, key('pertx')))).toBe('TRANSFER_LIMIT_EXCEEDED');
      expect(await codeOf(transfer(from, to, 4_000n, key('rest')))).toBe('OK');
      expect(await codeOf(transfer(from, to, 1n, key('over')))).toBe('TRANSFER_LIMIT_EXCEEDED');
      expect(await balanceOf(from.accountNumber)).toBe(90_000n);
    });

    it('idempotency: sequential replay and 20 concurrent duplicates post once with identical replies', async () => {
      const from = await funded('idem-a', 10_000n);
      const to = await funded('idem-b', 0n);
      const k1 = key('seq');
      const first = await transfer(from, to, 1_000n, k1);
      expect(await transfer(from, to, 1_000n, k1)).toEqual(first);
      expect(await entryCount(k1)).toBe(1);

      const k2 = key('concurrent');
      const replies = await Promise.all(Array.from({ length: 20 }, () => transfer(from, to, 1_000n, k2)));
      for (const r of replies) expect(r).toEqual(replies[0]);
      expect(await entryCount(k2)).toBe(1);
      expect(await balanceOf(from.accountNumber)).toBe(8_000n);
    });

    it('a replay answers with the first result even when the posting could not be made again', async () => {
      const from = await funded('drain-a', 1_000n);
      const to = await funded('drain-b', 0n);
      const k = key('drain');
      const first = await transfer(from, to, 1_000n, k);
      // The balance is now 0: the same request again is still the first result, not a refusal.
      expect(await transfer(from, to, 1_000n, k)).toEqual(first);
      expect(await codeOf(transfer(from, to, 1_001n, k))).toBe('IDEMPOTENCY_KEY_REUSED');
      const replies = await Promise.all([
        transfer(from, to, 1_000n, k),
        codeOf(transfer(from, to, 5n, k)),
        codeOf(transfer(from, to, 5n, key('drain-new'))),
      ]);
      expect(replies).toEqual([first, 'IDEMPOTENCY_KEY_REUSED', 'INSUFFICIENT_BALANCE']);
      expect(await entryCount(k)).toBe(1);
    });

    it('same key with another amount is refused and posts nothing', async () => {
      const from = await funded('reuse-a', 10_000n);
      const to = await funded('reuse-b', 0n);
      const k = key('reuse');
      await transfer(from, to, 1_000n, k);
      expect(await codeOf(transfer(from, to, 2_000n, k))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await codeOf(transfer(from, to, 1_000n, k, { sourceOwnerUserId: 'someone-else' }))).toBe('IDEMPOTENCY_KEY_REUSED');
      // Concurrently, in one batch or several: the first claim wins, the others are refused.
      const k2 = key('reuse-race');
      const codes = await Promise.all([
        codeOf(transfer(from, to, 100n, k2)),
        codeOf(transfer(from, to, 200n, k2)),
        codeOf(transfer(from, to, 300n, k2)),
      ]);
      expect(codes.filter((c) => c === 'OK')).toHaveLength(1);
      expect(codes.filter((c) => c === 'IDEMPOTENCY_KEY_REUSED')).toHaveLength(2);
      expect(await entryCount(k)).toBe(1);
      expect(await entryCount(k2)).toBe(1);
      const moved = 10_000n - (await balanceOf(from.accountNumber));
      expect([1_100n, 1_200n, 1_300n]).toContain(moved);
    });

    it('same key with other display text (memos, notification wording) is the same request; other money fields are not', async () => {
      const from = await funded('text-a', 10_000n);
      const to = await funded('text-b', 0n);
      const other = await funded('text-c', 0n);
      const k = key('text');
      // The first attempt from a caller that still sent sentences…
      const first = await transfer(from, to, 1_000n, k, {
        events: [{ userId: 'text-a', type: 'TRANSFER_SUCCEED', kind: 'TEXT', title: '이체 완료', content: 'old wording' }],
      });
      // …retried after an update that sends facts and other memos: the first result.
      const reworded: Partial<PostTransferInput> = {
        debitMemo: 'other memo',
        creditMemo: 'other memo',
        events: [{ userId: 'text-a', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: '김*수' }],
      };
      expect(await transfer(from, to, 1_000n, k, { ...reworded, events: [] })).toEqual(first);
      expect(await transfer(from, to, 1_000n, k, reworded)).toEqual(first);
      expect(await codeOf(transfer(from, to, 1_001n, k, reworded))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await codeOf(transfer(from, other, 1_000n, k))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await codeOf(transfer(to, from, 1_000n, k))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await entryCount(k)).toBe(1);
      expect(await balanceOf(from.accountNumber)).toBe(9_000n);
      expect(await balanceOf(other.accountNumber)).toBe(0n);
    });

    it('a reply lost after COMMIT: the client retries with the same key and nothing is posted twice', async () => {
      const from = await funded('reset-a', 3_000n);
      const to = await funded('reset-b', 0n);
      const k = key('reset');
      // The first call commits; its reply is dropped (as by a connection reset).
      void (await transfer(from, to, 1_000n, k).then(() => undefined));
      const retried = await transfer(from, to, 1_000n, k);
      expect(retried.from.balanceAfter.minor).toBe(2_000n);
      expect(await entryCount(k)).toBe(1);
      expect(await balanceOf(from.accountNumber)).toBe(2_000n);
    });

    it('refuses zero, negative and beyond-int64 amounts, unknown and foreign accounts, with exact codes inside one batch', async () => {
      const from = await funded('checks-a', 1_000n);
      const to = await funded('checks-b', 0n);
      const other = await funded('checks-c', 0n);
      // The first 600 is posted first, so the outcome of each posting below does not depend on
      // the order the unbatched mode happens to run them in.
      expect(await codeOf(transfer(from, to, 600n, key('ok1')))).toBe('OK');
      const results = await Promise.all([
        codeOf(transfer(from, to, 0n, key('zero'))),
        codeOf(transfer(from, to, -5n, key('neg'))),
        codeOf(transfer(from, to, 2n ** 63n, key('huge'))),
        codeOf(transfer(from, to, 600n, key('short'))),
        codeOf(transfer(from, { ...to, accountNumber: '3333-00000000000' }, 1n, key('notarget'))),
        codeOf(transfer({ ...from, accountNumber: '3333-99999999999' }, to, 1n, key('nosource'))),
        codeOf(transfer(from, from, 1n, key('self'))),
        codeOf(transfer(from, to, 1n, key('owner'), { sourceOwnerUserId: 'someone-else' })),
        codeOf(transfer(other, to, 1n, key('empty'))),
        codeOf(transfer(from, to, 400n, key('ok2'))),
      ]);
      expect(results).toEqual([
        'INVALID_AMOUNT',
        'INVALID_AMOUNT',
        'INVALID_AMOUNT',
        'INSUFFICIENT_BALANCE',
        'INVALID_TARGET_ACCOUNT',
        'INVALID_SOURCE_ACCOUNT',
        'INVALID_TARGET_ACCOUNT',
        'INVALID_SOURCE_ACCOUNT',
        'INSUFFICIENT_BALANCE',
        'OK',
      ]);
      expect(await balanceOf(from.accountNumber)).toBe(0n);
      expect(
        await codeOf(t.ledger.deposit({ idempotencyKey: key('dep'), accountNumber: '3333-00000000000', amount: krw(1), memo: '' })),
      ).toBe('ACCOUNT_NOT_FOUND');
      expect(
        await codeOf(
          t.ledger.deposit({
            idempotencyKey: key('dep'),
            accountNumber: from.accountNumber,
            amount: { currency: 'USD', minor: 1n },
            memo: '',
          }),
        ),
      ).toBe('INVALID_AMOUNT');
    });

    it('writes outbox events with the entry, none for a refused posting, readable after a cursor', async () => {
      const from = await funded('outbox-a', 1_000n);
      const to = await funded('outbox-b', 0n);
      const before = await t.ledger.listOutboxEvents(0n, 1000);
      const cursor = before.at(-1)?.id ?? 0n;
      const events: PostTransferInput['events'] = [
        { userId: 'outbox-a', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: '김*수' },
        { userId: 'outbox-b', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: '' },
        { userId: 'outbox-c', type: 'TRANSFER_SUCCEED', kind: 'TEXT', title: 'sent', content: '700' },
      ];
      const posted = await transfer(from, to, 700n, key('ev1'), { events, debitMemo: 'rent', creditMemo: 'from a' });
      expect(await codeOf(transfer(from, to, 700n, key('ev2'), { events }))).toBe('INSUFFICIENT_BALANCE');
      const after = await t.ledger.listOutboxEvents(cursor, 1000);
      // Facts are completed from the entry (amount, the user's side's account and memo); text is kept as given.
      expect(after.map((e) => [e.id, e.entryId, e.userId, e.body])).toEqual([
        [
          cursor + 1n,
          posted.entryId,
          'outbox-a',
          {
            facts: {
              kind: 'TRANSFER_OUT',
              accountNumber: from.accountNumber,
              currency: 'KRW',
              amountMinor: 700n,
              counterpartyName: '김*수',
              memo: 'rent',
            },
          },
        ],
        [
          cursor + 2n,
          posted.entryId,
          'outbox-b',
          {
            facts: {
              kind: 'TRANSFER_IN',
              accountNumber: to.accountNumber,
              currency: 'KRW',
              amountMinor: 700n,
              counterpartyName: '',
              memo: 'from a',
            },
          },
        ],
        [cursor + 3n, posted.entryId, 'outbox-c', { text: { title: 'sent', content: '700' } }],
      ]);
      expect(await t.ledger.listOutboxEvents(cursor + 1n, 1)).toHaveLength(1);
      // Money leaving the bank has no recipient here to tell.
      await expect(
        transfer(from, { ...to, accountNumber: '' }, 1n, key('ev3'), {
          toExternalSettlement: true,
          events: [{ userId: 'outbox-b', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: '' }],
        }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await t.ledger.listOutboxEvents(cursor + 3n, 10)).toEqual([]);
    });
  });
}

describe('ledger failures and invariants', () => {
  let t: TestLedger;
  let from: AccountRow;
  let to: AccountRow;
  let n = 0;

  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 8, lingerMs: 1 });
    from = await t.ledger.createAccount({ ownerUserId: 'f1', name: 'from', currency: 'KRW' });
    to = await t.ledger.createAccount({ ownerUserId: 'f2', name: 'to', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'fund-f1', accountNumber: from.accountNumber, amount: krw(100_000), memo: '' });
  }, 60_000);
  afterAll(async () => t?.close());

  const transfer = (minor: bigint, idempotencyKey = `f-${++n}`, poster = t.ledger) =>
    poster.postTransfer({
      idempotencyKey,
      fromAccountNumber: from.accountNumber,
      toAccountNumber: to.accountNumber,
      amount: krw(minor),
      debitMemo: '',
      creditMemo: '',
      events: [],
    });

  async function balance(accountNumber: string) {
    return BigInt(
      (await t.db.selectFrom('accounts').select('balance_minor').where('account_number', '=', accountNumber).executeTakeFirstOrThrow())
        .balance_minor,
    );
  }

  /** A serialization failure at COMMIT for the next `times` entries (a sequence: not rolled back). */
  async function injectCommitFailures(times: number) {
    await sql`drop trigger if exists test_fault on ledger.entries`.execute(t.db);
    await sql`drop sequence if exists ledger.test_fault_seq`.execute(t.db);
    await sql`create sequence ledger.test_fault_seq`.execute(t.db);
    await sql`create or replace function ledger.test_fault() returns trigger language plpgsql as $$
      begin
        if nextval('ledger.test_fault_seq') <= ${sql.lit(times)} then
          raise exception 'injected serialization failure' using errcode = '40001';
        end if;
        return null;
      end $$`.execute(t.db);
    await sql`create constraint trigger test_fault after insert on ledger.entries deferrable initially deferred
      for each row execute function ledger.test_fault()`.execute(t.db);
  }
  async function removeFault() {
    await sql`drop trigger if exists test_fault on ledger.entries`.execute(t.db);
  }

  it('a serialization failure at COMMIT is retried: one posting', async () => {
    const retries: number[] = [];
    const poster = new LedgerPoster(t.db, { maxBatchSize: 1, retry: { onRetry: (_e, attempt) => retries.push(attempt) } });
    const ledger = createLedger({ db: t.db, poster, store: createMemoryStore() });
    const before = await balance(from.accountNumber);
    await injectCommitFailures(1);
    try {
      const k = `retry-${++n}`;
      const r = await transfer(100n, k, ledger);
      expect(retries).toEqual([1]);
      expect(r.from.balanceAfter.minor).toBe(before - 100n);
      expect((await t.db.selectFrom('entries').select('id').where('idempotency_key', '=', k).execute()).length).toBe(1);
      expect(await balance(from.accountNumber)).toBe(before - 100n);
    } finally {
      await removeFault();
      await poster.close();
    }
  });

  it('retries exhausted: every posting of the batch fails with TransactionConflictError and nothing is posted', async () => {
    const poster = new LedgerPoster(t.db, { maxBatchSize: 4, lingerMs: 5, retry: { maxAttempts: 3, baseDelayMs: 1 } });
    const ledger = createLedger({ db: t.db, poster, store: createMemoryStore() });
    const before = await balance(from.accountNumber);
    await injectCommitFailures(1_000_000);
    try {
      const results = await Promise.allSettled([
        transfer(1n, undefined, ledger),
        transfer(2n, undefined, ledger),
        transfer(3n, undefined, ledger),
      ]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TransactionConflictError);
      }
      expect(await balance(from.accountNumber)).toBe(before);
    } finally {
      await removeFault();
      await poster.close();
    }
  });

  it('a failure inside a batch fails all of its postings with the same error and commits none of them', async () => {
    const poster = new LedgerPoster(t.db, { maxBatchSize: 8, lingerMs: 20, maxConcurrentBatches: 1 });
    const ledger = createLedger({ db: t.db, poster, store: createMemoryStore() });
    const before = await balance(from.accountNumber);
    // A non-retryable failure on one posting's write (as if the process died between writes).
    await sql`create or replace function ledger.test_boom() returns trigger language plpgsql as $$
      begin
        if new.memo = 'boom' then raise exception 'boom' using errcode = 'XX000'; end if;
        return new;
      end $$`.execute(t.db);
    await sql`create trigger test_boom before insert on ledger.postings for each row execute function ledger.test_boom()`.execute(t.db);
    try {
      const results = await Promise.allSettled([
        transfer(10n, `boom-1-${n}`, ledger),
        ledger.postTransfer({
          idempotencyKey: `boom-2-${n}`,
          fromAccountNumber: from.accountNumber,
          toAccountNumber: to.accountNumber,
          amount: krw(20),
          debitMemo: 'boom',
          creditMemo: '',
          events: [],
        }),
        transfer(30n, `boom-3-${n}`, ledger),
      ]);
      const reasons = results.map((r) => (r as PromiseRejectedResult).reason);
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(reasons[0]).toBe(reasons[1]);
      expect(reasons[2]).toBe(reasons[1]);
      expect(await balance(from.accountNumber)).toBe(before);
      const leftovers = await t.db.selectFrom('entries').select('id').where('idempotency_key', 'like', 'boom-%').execute();
      expect(leftovers).toEqual([]);
    } finally {
      await sql`drop trigger test_boom on ledger.postings`.execute(t.db);
      await poster.close();
    }
  });

  it('entries, postings and outbox are append-only; an unbalanced entry cannot commit', async () => {
    await t.ledger.postTransfer({
      idempotencyKey: `f-${++n}`,
      fromAccountNumber: from.accountNumber,
      toAccountNumber: to.accountNumber,
      amount: krw(5),
      debitMemo: '',
      creditMemo: '',
      events: [{ userId: 'f2', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: 'c' }],
    });
    for (const table of ['entries', 'postings', 'outbox']) {
      await expect(sql`delete from ${sql.table(`ledger.${table}`)}`.execute(t.db)).rejects.toThrow(/append-only/);
    }
    await expect(sql`update ledger.outbox set memo = 'changed'`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`update ledger.entries set memo = 'changed'`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger.entries`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`update ledger.postings set amount_minor = amount_minor * 2`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger.postings`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate ledger.postings`.execute(t.db)).rejects.toThrow(/append-only/);
    const fromId = (
      await t.db.selectFrom('accounts').select('id').where('account_number', '=', from.accountNumber).executeTakeFirstOrThrow()
    ).id;
    // One-sided entry: refused at the end of the statement that inserts its posting (migration 007).
    await expect(
      t.db.transaction().execute(async (trx) => {
        const e = await trx
          .insertInto('entries')
          .values({ idempotency_key: 'one-sided', request_hash: 'a'.repeat(64), kind: 'DEPOSIT', memo: '' })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('postings')
          .values({
            entry_id: e.id,
            account_id: fromId,
            currency: 'KRW',
            amount_minor: 1n,
            balance_after_minor: 0n,
            account_seq: 999_999n,
            memo: '',
          })
          .execute();
      }),
    ).rejects.toThrow(/does not balance/);
    // An entry without postings, likewise.
    await expect(
      t.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('entries')
          .values({ idempotency_key: 'empty', request_hash: 'a'.repeat(64), kind: 'DEPOSIT', memo: '' })
          .execute();
      }),
    ).rejects.toThrow(/no postings/);
    // A negative balance on a customer account is refused by the table itself.
    await expect(sql`update ledger.accounts set balance_minor = -1 where id = ${fromId}`.execute(t.db)).rejects.toThrow(
      /accounts_no_negative_balance/,
    );
  });
});

describe('funding entries (top-up and withdrawal)', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await openTestLedger({ maxBatchSize: 1 });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('records a withdrawal as its own entry kind and takes only the events that fit each posting', async () => {
    const account = await t.ledger.createAccount({ ownerUserId: 'erin', name: 'erin', currency: 'KRW' });
    const event = (kind: 'TOP_UP' | 'WITHDRAWAL' | 'WITHDRAWAL_RETURNED' | 'TRANSFER_IN') => ({
      userId: 'erin',
      type: 'TRANSFER_SUCCEED' as const,
      kind,
      counterpartyName: '',
    });
    const deposit = (key: string, kind: Parameters<typeof event>[0]) =>
      t.ledger.deposit({
        idempotencyKey: key,
        accountNumber: account.accountNumber,
        amount: krw(10_000),
        memo: 'top-up',
        events: [event(kind)],
      });
    await deposit('erin-top-up', 'TOP_UP');
    await expect(deposit('erin-wrong-1', 'TRANSFER_IN')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(deposit('erin-wrong-2', 'WITHDRAWAL')).rejects.toBeInstanceOf(InvalidArgumentError);
    const out = (key: string, extra: Partial<PostTransferInput>) =>
      t.ledger.postTransfer({
        idempotencyKey: key,
        fromAccountNumber: account.accountNumber,
        toAccountNumber: '',
        toExternalSettlement: true,
        amount: krw(4_000),
        debitMemo: 'withdrawal',
        creditMemo: '',
        sourceOwnerUserId: 'erin',
        events: [event('WITHDRAWAL')],
        ...extra,
      });
    // A WITHDRAWAL event needs a withdrawal, and a withdrawal the settlement account.
    await expect(out('erin-wrong-3', {})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      out('erin-wrong-4', { withdrawal: true, toExternalSettlement: false, toAccountNumber: account.accountNumber }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(out('erin-wrong-5', { withdrawal: true, events: [event('TOP_UP')] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await out('erin-withdrawal', { withdrawal: true });
    // The same key without the withdrawal flag is another request (another entry kind).
    await expect(out('erin-withdrawal', { events: [] })).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    const statement = await t.ledger.listTransactions('erin', account.accountNumber, 1, 10, 'erin');
    expect(statement.lines.map((l) => [l.kind, l.amountMinor])).toEqual([
      ['WITHDRAWAL', -4_000n],
      ['DEPOSIT', 10_000n],
    ]);
  });
});
