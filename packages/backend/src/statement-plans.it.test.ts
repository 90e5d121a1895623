// PostgreSQL keeps a plan per prepared statement and connection. With plan_cache_mode = auto it
// plans a statement afresh for its first five executions, then settles on the generic plan,
// unless the generic plan is estimated dearer than the custom ones: then it plans afresh at
// every execution, for good. The ledger's batch write did that, 0.45 ms of the server's time per
// batch (docs/performance.md, sixteenth session). Here a customer's hot paths (logins, PIN
// transfers, account and history reads) run on a one-connection pool, so pg_prepared_statements,
// which lists one session's statements, lists every statement they use; none executed often may
// keep being planned afresh. Named statements only exist on PostgreSQL (PGlite runs every
// statement unnamed).
import { loginWithPin, transferWithPin, unary, withSession } from '@kfrm/app-client';
import { AccountServiceClient, ListTransactionsRequest } from '@kfrm/proto/gen/kfrm/api/account/account';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBankJourney, type BankJourney, type Customer } from './testing/bank-journey.harness';

const ROUNDS = 12;
/** Custom plans allowed per statement: the five `auto` makes before it compares, and one to spare. */
const SETTLING_PLANS = 6;

describe.skipIf(!process.env.DATABASE_URL)('statements on the hot paths settle on a cached plan', () => {
  let bank: BankJourney;
  let alice: Customer;
  let bob: Customer;
  beforeAll(async () => {
    bank = await startBankJourney('statement-plans', { databaseOptions: { poolMax: 1 } });
    alice = await bank.customer(1_000_000n);
    bob = await bank.customer();
  }, 120_000);
  afterAll(async () => bank?.close());

  it('after repeated logins, PIN transfers, account reads and history pages, no statement executed often is still planned at every execution', async () => {
    const accounts = alice.app.client(AccountServiceClient);
    for (let i = 0; i < ROUNDS; i++) {
      const { sessionToken } = await loginWithPin(alice.app, alice.user.userToken, alice.profile.pin);
      const sent = await transferWithPin(alice.app, sessionToken, {
        sourceAccountNumber: alice.accountNumber,
        targetAccountNumber: bob.accountNumber,
        targetInstitutionCode: '333',
        amountKrw: 1_000n,
        pin: alice.profile.pin,
        signingKey: alice.user.signingKey,
        signingCertificateDer: alice.user.signingCertificateDer,
      });
      expect(sent.success).toBe(true);
      const session = withSession(sessionToken);
      await unary(accounts, accounts.getAccount, { accountNumber: alice.accountNumber }, session);
      await unary(accounts, accounts.listAccounts, {}, session);
      const { transactions } = await unary(
        accounts,
        accounts.listTransactions,
        ListTransactionsRequest.fromPartial({ accountNumber: alice.accountNumber, page: 1, pageSize: 20 }),
        session,
      );
      expect(transactions.length).toBe(Math.min(i + 2, 20));
    }
    const { rows } = await sql<{ statement: string; generic_plans: string; custom_plans: string }>`
      select statement, generic_plans, custom_plans from pg_prepared_statements`.execute(bank.services.database.kysely());
    const executions = (r: (typeof rows)[number]) => Number(r.generic_plans) + Number(r.custom_plans);
    const often = rows.filter((r) => executions(r) >= ROUNDS);
    // The paths ran: the batch write, the transfer's own rows and the login's statements are among them.
    expect(often.map((r) => r.statement).join('\n')).toMatch(/insert into "ledger"\."entries"/);
    expect(often.length).toBeGreaterThanOrEqual(10);
    const replanned = often
      .filter((r) => Number(r.custom_plans) > SETTLING_PLANS)
      .map((r) => `${r.custom_plans} of ${executions(r)} planned afresh: ${r.statement.replace(/\s+/g, ' ').slice(0, 120)}`);
    expect(replanned).toEqual([]);
  }, 120_000);
});
