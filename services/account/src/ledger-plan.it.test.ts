// The batch write's plan: PostgreSQL planned it afresh at every batch (its custom plans look
// cheaper than the generic one, so plan_cache_mode=auto never switches), which was 0.45 ms of
// the server's time per batch; lockAccounts turns generic plans on for the batch's transaction
// only. Named statements only exist on PostgreSQL (PGlite runs every statement unnamed).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountRow } from './ledger.repository';
import { krw, oneWonTransfer, openTestLedger, type TestLedger } from './testing/ledger.harness';

describe.skipIf(!process.env.DATABASE_URL)('the batch write on PostgreSQL', () => {
  let t: TestLedger;
  let from: AccountRow;
  let to: AccountRow;
  beforeAll(async () => {
    // One connection: the batches and the checks below share one session, whose prepared
    // statements pg_prepared_statements lists.
    t = await openTestLedger({ poolMax: 1 });
    from = await t.ledger.createAccount({ ownerUserId: 'plan-from', name: 'from', currency: 'KRW' });
    to = await t.ledger.createAccount({ ownerUserId: 'plan-to', name: 'to', currency: 'KRW' });
    await t.ledger.deposit({ idempotencyKey: 'plan-fund', accountNumber: from.accountNumber, amount: krw(1_000), memo: '' });
  }, 60_000);
  afterAll(async () => t?.close());

  async function writePlans(): Promise<{ generic: number; custom: number }> {
    const { rows } = await sql<{ generic_plans: string; custom_plans: string }>`
      select generic_plans, custom_plans from pg_prepared_statements
      where statement like ${'%insert into "ledger"."entries"%'}`.execute(t.db);
    expect(rows).toHaveLength(1);
    return { generic: Number(rows[0]!.generic_plans), custom: Number(rows[0]!.custom_plans) };
  }

  it('is never planned afresh: every batch binds the generic plan', async () => {
    const before = await writePlans();
    for (let i = 0; i < 8; i++) {
      const posted = await t.ledger.postTransfer(oneWonTransfer(from, to, `plan-${i}`));
      expect(posted.to.balanceAfter.minor).toBe(BigInt(i + 1));
    }
    const after = await writePlans();
    expect(after.custom).toBe(0);
    expect(after.generic - before.generic).toBe(8);
  });

  it('leaves the pooled connection with its default plan_cache_mode after the batch commits', async () => {
    const { rows } = await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(t.db);
    expect(rows[0]!.plan_cache_mode).toBe('auto');
  });
});
