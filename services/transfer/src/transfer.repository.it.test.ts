import { isUniqueViolation, migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { planCacheReport, statementKinds } from '@kfrm/db/testing/plan-cache.harness';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from './migrations';
import { findTransfer, insertPendingTransfer, markExecutingLeased, markSucceeded, type TransferDb } from './transfer.repository';
import { TRANSFER_SCHEMA, type TransferDatabase } from './transfer.table';

// The decisions and outcomes of concurrent Executes share statements (ADR 0027). Each must still
// get the outcome it would have had alone: one decision per transfer, the later of two for one
// transfer refused, a transfer decided before refused.
let database: TestDatabase;
let db: TransferDb;
let statements = 0;
const now = new Date('2026-12-07T12:00:00Z');
const until = new Date('2026-12-07T12:00:30Z');
/** A SHA-256 in hex, as the column asks, told apart by its owner. */
const sig = (owner: string) => Buffer.from(owner).toString('hex').padEnd(64, '0').slice(0, 64);

beforeAll(async () => {
  database = await openTestDatabase({ log: { debug: () => void statements++ } });
  await migrateSchema(database, { schema: TRANSFER_SCHEMA, migrations });
  db = database.kysely<TransferDatabase>(TRANSFER_SCHEMA);
});

afterAll(async () => {
  await database?.close();
});

let seq = 0;
async function pendingTransfer(processId?: string, into: TransferDb = db): Promise<string> {
  const id = `t-${process.pid}-${++seq}`;
  await insertPendingTransfer(into, {
    id,
    userId: '1',
    sourceAccountNumber: '1000000001',
    targetInstitutionCode: '333',
    targetAccountNumber: '1000000002',
    targetHolderName: 'B',
    targetOwnerUserId: '2',
    amountMinor: 1_000n,
    debitMemo: 'pre-check debit',
    creditMemo: 'pre-check credit',
    processId: processId ?? `p-${id}`,
    processContext: 'ctx',
    signedContent: 'content',
    createdAt: now,
  });
  return id;
}

/** Runs the writes at once and counts the statements they took. */
async function atOnce<T>(writes: (() => Promise<T>)[]): Promise<{ answers: T[]; statements: number }> {
  const before = statements;
  const answers = await Promise.all(writes.map((write) => write()));
  return { answers, statements: statements - before };
}

describe('the pending transfers of concurrent pre-checks', () => {
  it('are inserted in fewer statements; a second transfer for one process fails alone, the others are written', async () => {
    const outcomes = await Promise.allSettled([
      pendingTransfer(),
      pendingTransfer('shared-process'),
      pendingTransfer(),
      pendingTransfer('shared-process'),
      pendingTransfer(),
      pendingTransfer(),
    ]);
    // The two for one process went in different statements, on different connections: either
    // may commit first, and the other fails, alone.
    const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    expect([[1], [3]]).toContainEqual(refused);
    expect(isUniqueViolation((outcomes[refused[0]!] as PromiseRejectedResult).reason)).toBe(true);
    const written = await Promise.all(outcomes.map((o) => (o.status === 'fulfilled' ? findTransfer(db, o.value) : undefined)));
    expect(written.map((row) => row && [row.state, row.amount_minor, row.target_owner_user_id, row.created_at])).toEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? ['PENDING', '1000', '2', now] : undefined)),
    );
    // Without a failure, six inserts at once take fewer than six statements (with one, the batch
    // that carried it was sent again one by one).
    const clean = statements;
    await Promise.all(Array.from({ length: 6 }, () => pendingTransfer()));
    expect(statements - clean).toBeLessThan(6);
  });
});

describe('the transfer marks, made at once by concurrent Executes', () => {
  it('markExecutingLeased: each transfer decided once, with its own signature, lease and memos; a decided one refused', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => pendingTransfer()));
    const decidedBefore = ids[5]!;
    expect(await markExecutingLeased(db, decidedBefore, sig('owner-early'), now, 'owner-early', until)).toBeDefined();
    const asked: [id: string, owner: string, memos?: { debitMemo?: string; creditMemo?: string }][] = [
      [ids[0]!, 'owner-0'],
      [ids[1]!, 'owner-1', { debitMemo: 'given debit' }],
      // Two Executes of one transfer: the first decides it, the second finds it decided.
      [ids[2]!, 'owner-2a'],
      [ids[2]!, 'owner-2b'],
      [ids[3]!, 'owner-3', { creditMemo: 'given credit' }],
      [decidedBefore, 'owner-late'],
      ['no-such-transfer', 'owner-x'],
      [ids[4]!, 'owner-4'],
    ];
    const { answers, statements: used } = await atOnce(
      asked.map(
        ([id, owner, memos]) =>
          () =>
            markExecutingLeased(db, id, sig(owner), now, owner, until, memos),
      ),
    );
    expect(
      answers.map((row) => row && [row.id, row.state, row.lease_owner, row.signature_sha256, row.debit_memo, row.credit_memo]),
    ).toEqual([
      [ids[0], 'EXECUTING', 'owner-0', sig('owner-0'), 'pre-check debit', 'pre-check credit'],
      [ids[1], 'EXECUTING', 'owner-1', sig('owner-1'), 'given debit', 'pre-check credit'],
      [ids[2], 'EXECUTING', 'owner-2a', sig('owner-2a'), 'pre-check debit', 'pre-check credit'],
      undefined,
      [ids[3], 'EXECUTING', 'owner-3', sig('owner-3'), 'pre-check debit', 'given credit'],
      undefined,
      undefined,
      [ids[4], 'EXECUTING', 'owner-4', sig('owner-4'), 'pre-check debit', 'pre-check credit'],
    ]);
    expect(answers[0]!.lease_until).toEqual(until);
    expect(answers[0]!.executing_at).toEqual(now);
    expect((await findTransfer(db, decidedBefore))!.lease_owner).toBe('owner-early');
    expect((await findTransfer(db, ids[2]!))!.lease_owner).toBe('owner-2a');
    expect(used).toBeLessThan(asked.length);
  });

  it('markSucceeded: each executing transfer succeeds with its own entry; a pending one is left as it is', async () => {
    const ids = await Promise.all(Array.from({ length: 5 }, () => pendingTransfer()));
    for (const id of ids.slice(0, 4)) await markExecutingLeased(db, id, sig('owner'), now, 'owner', until);
    const finished = new Date('2026-12-07T12:00:01Z');
    const { statements: used } = await atOnce(ids.map((id, i) => () => markSucceeded(db, id, 500n + BigInt(i), finished)));
    const rows = await Promise.all(ids.map((id) => findTransfer(db, id)));
    expect(rows.map((r) => [r!.state, r!.entry_id, r!.lease_owner, r!.finished_at])).toEqual([
      ['SUCCEEDED', '500', null, finished],
      ['SUCCEEDED', '501', null, finished],
      ['SUCCEEDED', '502', null, finished],
      ['SUCCEEDED', '503', null, finished],
      ['PENDING', null, null, null],
    ]);
    expect(used).toBeLessThan(ids.length);
  });
});

// Calls one at a time never use the batched statements, so the hot paths' plan check
// (packages/backend statement-plans.it.test.ts) does not see them. A batched statement whose custom
// plan, knowing its arrays, looks cheaper than the generic one is planned afresh at every
// execution, for good (`hiddenArray`).
describe.skipIf(!process.env.DATABASE_URL)('the batched transfer writes settle on a cached plan', () => {
  it('rounds of four to seven pre-checks, decisions and outcomes at once, on one connection: no statement planned afresh each time', async () => {
    const ROUNDS = 12;
    const single = await openTestDatabase({ backend: 'postgres', poolMax: 1 });
    try {
      await migrateSchema(single, { schema: TRANSFER_SCHEMA, migrations });
      const one = single.kysely<TransferDatabase>(TRANSFER_SCHEMA);
      // On a handful of rows every plan costs the same; with a bank's worth, a plan that expects
      // the batch's few rows looks far cheaper than one that expects `unnest`'s default hundred.
      await sql`
        insert into transfer.transfers (id, user_id, source_account_number, target_institution_code,
          target_account_number, target_holder_name, currency, amount_minor, debit_memo, credit_memo,
          process_id, process_context, signed_content, state, created_at)
        select 'old-' || n, '1', '1000000001', '333', '1000000002', 'B', 'KRW', 1000, 'd', 'c',
          'old-p-' || n, 'ctx', 'content', 'PENDING', now()
        from generate_series(1, 20000) as n;
        analyze transfer.transfers`.execute(one);
      for (let round = 0; round < ROUNDS; round++) {
        // Two of them go alone (two statements of a kind on their way at once), the others wait
        // and share the next: each round runs each batched form once, with 2 to 5 rows.
        const ids = await Promise.all(Array.from({ length: 4 + (round % 4) }, () => pendingTransfer(undefined, one)));
        await Promise.all(ids.map((id) => markExecutingLeased(one, id, sig(id), now, 'owner', until)));
        await Promise.all(ids.map((id, i) => markSucceeded(one, id, BigInt(round * 10 + i + 1), now)));
      }
      const { executed, plannedAfresh } = await planCacheReport(one, ROUNDS);
      const batched = executed.filter((statement) => statement.includes('unnest('));
      const kinds = statementKinds(batched, {
        pending: 'insert into "transfer"."transfers"',
        executing: "set state = 'EXECUTING'",
        succeeded: "set state = 'SUCCEEDED'",
      });
      expect(kinds.sort()).toEqual(['executing', 'pending', 'succeeded']);
      expect(plannedAfresh).toEqual([]);
    } finally {
      await single.close();
    }
  }, 60_000);
});
