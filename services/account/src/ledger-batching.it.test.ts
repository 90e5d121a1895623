// Batching is an optimisation only: the same requests in the same order give the same outcome
// (codes, balances after, errors) whether they share one transaction or each have their own.
import { DomainError } from '@kfrm/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from './ledger';
import { type LedgerBatchReport, LedgerOverloadedError, LedgerPoster } from './ledger-poster';
import type { AccountRow } from './ledger.repository';
import { krw, oneWonTransfer, openTestLedger, type TestLedger } from './testing/ledger.harness';
import { createMemoryStore } from '@kfrm/store';
import { sql } from 'kysely';

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

interface Step {
  from: number;
  to: number;
  minor: bigint;
  key: string;
}

describe('batched and unbatched posting agree', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await openTestLedger();
  }, 60_000);
  afterAll(async () => t?.close());

  async function accountsFor(prefix: string, ledger: Ledger): Promise<AccountRow[]> {
    const accounts: AccountRow[] = [];
    for (let i = 0; i < 4; i++) {
      const a = await ledger.createAccount({
        ownerUserId: `${prefix}${i}`,
        name: `${prefix}${i}`,
        currency: 'KRW',
        limitPerDay: krw(9_000),
        limitPerTransaction: krw(4_000),
      });
      await ledger.deposit({ idempotencyKey: `${prefix}-fund-${i}`, accountNumber: a.accountNumber, amount: krw(5_000), memo: '' });
      accounts.push(a);
    }
    return accounts;
  }

  function steps(): Step[] {
    const random = prng(7);
    const list: Step[] = [];
    for (let i = 0; i < 120; i++) {
      const roll = random();
      const previous = list[Math.floor(random() * Math.max(list.length, 1))];
      if (previous && roll < 0.1)
        list.push({ ...previous }); // a replay
      else if (previous && roll < 0.3)
        list.push({ ...previous, minor: previous.minor + 1n }); // a reused key
      else if (roll < 0.33)
        list.push({ from: 0, to: 1, minor: 0n, key: `k${i}` }); // refused before any batch
      else {
        // Index 4 is an account that does not exist; amounts up to 5000 hit balance and limits.
        list.push({
          from: Math.floor(random() * 5),
          to: Math.floor(random() * 5),
          minor: BigInt(Math.floor(random() * 5_000)),
          key: `k${i}`,
        });
      }
    }
    return list;
  }

  function describeOutcome(
    _accounts: AccountRow[],
    _step: Step,
    outcome: PromiseSettledResult<{ from: { balanceAfter: { minor: bigint } }; to: { balanceAfter: { minor: bigint } } }>,
  ) {
    if (outcome.status === 'fulfilled') return `OK ${outcome.value.from.balanceAfter.minor} ${outcome.value.to.balanceAfter.minor}`;
    const reason = outcome.reason as unknown;
    return reason instanceof DomainError ? reason.code : `unexpected ${String(reason)}`;
  }

  const number = (accounts: AccountRow[], i: number) => accounts[i]?.accountNumber ?? '3333-00000000000';

  it('gives the same codes and balances for the same sequence', async () => {
    const sequence = steps();

    // Unbatched: one transaction per posting, one after another.
    const single = new LedgerPoster(t.db, { maxBatchSize: 1, lingerMs: 0 });
    const singleLedger = createLedger({ db: t.db, poster: single, store: createMemoryStore() });
    const a = await accountsFor('single', singleLedger);
    const one: string[] = [];
    for (const s of sequence) {
      const [outcome] = await Promise.allSettled([
        singleLedger.postTransfer({
          idempotencyKey: `single-${s.key}`,
          fromAccountNumber: number(a, s.from),
          toAccountNumber: number(a, s.to),
          amount: krw(s.minor),
          debitMemo: '',
          creditMemo: '',
          events: [],
        }),
      ]);
      one.push(describeOutcome(a, s, outcome!));
    }
    await single.close();

    // Batched: everything submitted at once; batches of 32 in arrival order.
    const batched = new LedgerPoster(t.db, { maxBatchSize: 32, lingerMs: 20, maxConcurrentBatches: 1 });
    const batchedLedger = createLedger({ db: t.db, poster: batched, store: createMemoryStore() });
    const b = await accountsFor('batched', batchedLedger);
    const outcomes = await Promise.allSettled(
      sequence.map((s) =>
        batchedLedger.postTransfer({
          idempotencyKey: `batched-${s.key}`,
          fromAccountNumber: number(b, s.from),
          toAccountNumber: number(b, s.to),
          amount: krw(s.minor),
          debitMemo: '',
          creditMemo: '',
          events: [],
        }),
      ),
    );
    await batched.close();
    const many = outcomes.map((o, i) => describeOutcome(b, sequence[i]!, o));

    // Differences first, by step, to make a failure readable.
    expect(many.map((m, i) => `${i}: ${m} / ${one[i]}`).filter((_m, i) => many[i] !== one[i])).toEqual([]);
    expect(many).toEqual(one);
    // The workload exercised every path.
    for (const code of [
      'OK',
      'INSUFFICIENT_BALANCE',
      'TRANSFER_LIMIT_EXCEEDED',
      'INVALID_AMOUNT',
      'INVALID_SOURCE_ACCOUNT',
      'INVALID_TARGET_ACCOUNT',
      'IDEMPOTENCY_KEY_REUSED',
    ]) {
      expect(
        one.filter((o) => o.startsWith(code)),
        code,
      ).not.toEqual([]);
    }
  });
});

describe('overload', () => {
  it('refuses postings beyond the queue bound at once, and posts the ones it took', async () => {
    const t = await openTestLedger({ maxBatchSize: 1, maxConcurrentBatches: 1, maxQueued: 3 });
    try {
      const a = await t.ledger.createAccount({ ownerUserId: 'q1', name: 'a', currency: 'KRW' });
      const b = await t.ledger.createAccount({ ownerUserId: 'q2', name: 'b', currency: 'KRW' });
      await t.ledger.deposit({ idempotencyKey: 'q-fund', accountNumber: a.accountNumber, amount: krw(100), memo: '' });
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => t.ledger.postTransfer(oneWonTransfer(a, b, `q-${i}`))));
      const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as Error);
      expect(refused.length).toBeGreaterThan(0);
      for (const err of refused) expect(err).toBeInstanceOf(LedgerOverloadedError);
      const posted = results.filter((r) => r.status === 'fulfilled').length;
      const entries = await t.db
        .selectFrom('entries')
        .select('id')
        .where('idempotency_key', 'like', 'q-%')
        .where('idempotency_key', '!=', 'q-fund')
        .execute();
      expect(entries).toHaveLength(posted);
    } finally {
      await t.close();
    }
  });
});

describe('when a batch starts', () => {
  it('an idle poster posts at once: the linger only gathers postings while another batch is in flight', async () => {
    // A linger far longer than the test's timeout: a lone posting that waited for it would time out.
    const t = await openTestLedger({ maxBatchSize: 32, lingerMs: 600_000, maxConcurrentBatches: 2 });
    try {
      const a = await t.ledger.createAccount({ ownerUserId: 'idle1', name: 'a', currency: 'KRW' });
      const b = await t.ledger.createAccount({ ownerUserId: 'idle2', name: 'b', currency: 'KRW' });
      await t.ledger.deposit({ idempotencyKey: 'idle-fund', accountNumber: a.accountNumber, amount: krw(100), memo: '' });
      const first = await t.ledger.postTransfer(oneWonTransfer(a, b, 'idle-1'));
      expect(first.from.balanceAfter.minor).toBe(99n);
      // Postings that arrive while that one's batch commits wait for it and then go together.
      const lone = t.ledger.postTransfer(oneWonTransfer(a, b, 'idle-2'));
      const together = [3, 4, 5].map((i) => t.ledger.postTransfer(oneWonTransfer(a, b, `idle-${i}`)));
      await Promise.all([lone, ...together]);
      // Rows written by one transaction share its id (xmin).
      const rows = await t.db
        .selectFrom('entries')
        .select(['idempotency_key as key', sql<string>`xmin::text`.as('xid')])
        .where('idempotency_key', 'like', 'idle-%')
        .where('idempotency_key', '!=', 'idle-fund')
        .execute();
      const xid = new Map(rows.map((r) => [r.key, r.xid]));
      expect(xid.size).toBe(5);
      expect(new Set([3, 4, 5].map((i) => xid.get(`idle-${i}`))).size).toBe(1);
      expect(xid.get('idle-1')).not.toBe(xid.get('idle-3'));
      expect((await t.ledger.getAccountForOwner('idle1', a.accountNumber)).balanceMinor).toBe(95n);
    } finally {
      await t.close();
    }
  }, 30_000);
});

describe('what each batch reports (metrics)', () => {
  it('reports every batch once with its postings, attempts and waits, committed or failed, and a throwing observer changes nothing', async () => {
    const reports: LedgerBatchReport[] = [];
    let throwing = false;
    const t = await openTestLedger({
      maxBatchSize: 32,
      lingerMs: 0,
      maxConcurrentBatches: 1,
      onBatch: (r) => {
        reports.push(r);
        if (throwing) throw new Error('observer failed');
      },
    });
    try {
      const a = await t.ledger.createAccount({ ownerUserId: 'm1', name: 'a', currency: 'KRW' });
      const b = await t.ledger.createAccount({ ownerUserId: 'm2', name: 'b', currency: 'KRW' });
      await t.ledger.deposit({ idempotencyKey: 'm-fund', accountNumber: a.accountNumber, amount: krw(100), memo: '' });
      reports.length = 0;
      // The first goes alone (idle poster); the four sent while it commits wait and go together.
      const first = t.ledger.postTransfer(oneWonTransfer(a, b, 'm-1'));
      const rest = [2, 3, 4, 5].map((i) => t.ledger.postTransfer(oneWonTransfer(a, b, `m-${i}`)));
      expect(t.poster.load()).toEqual({ queued: 4, batchesInFlight: 1 });
      await Promise.all([first, ...rest]);
      expect(t.poster.load()).toEqual({ queued: 0, batchesInFlight: 0 });
      expect(reports.map((r) => [r.postings, r.outcome, r.attempts])).toEqual([
        [1, 'committed', 1],
        [4, 'committed', 1],
      ]);
      const [alone, together] = reports as [LedgerBatchReport, LedgerBatchReport];
      expect(alone.waitsSeconds).toHaveLength(1);
      // The four waited for the batch before them: at least half its time (the clocks are read a few steps apart).
      for (const wait of together.waitsSeconds) expect(wait).toBeGreaterThanOrEqual(alone.seconds * 0.5);
      for (const r of reports) expect(r.seconds).toBeGreaterThan(0);

      // An observer that throws changes no caller's answer.
      throwing = true;
      const posted = await t.ledger.postTransfer(oneWonTransfer(a, b, 'm-6'));
      expect(posted.from.balanceAfter.minor).toBe(94n);

      // A batch that fails as a whole is reported as failed (the pool is closed under it).
      throwing = false;
      reports.length = 0;
      await t.database.close();
      await expect(t.ledger.postTransfer(oneWonTransfer(a, b, 'm-7'))).rejects.toThrow();
      expect(reports.map((r) => [r.postings, r.outcome])).toEqual([[1, 'failed']]);
    } finally {
      await t.poster.close();
      await t.database.close().catch(() => {}); // closed above unless an expectation failed first
    }
  });
});
