// PostgreSQL keeps a plan per prepared statement and connection, and may keep planning one afresh
// at every execution (`planCacheReport`). Here a customer's hot paths (logins, PIN transfers,
// account and history reads) run on a one-connection pool, so pg_prepared_statements, which lists
// one session's statements, lists every statement they use; none executed often may keep being
// planned afresh. The batched forms of the writes (ADR 0027), which calls one at a time never use,
// are checked by their repositories' tests.
import { loginWithPin, transferWithPin, unary, withSession } from '@kfrm/app-client';
import { AccountServiceClient, ListTransactionsRequest } from '@kfrm/proto/gen/kfrm/api/account/account';
import { planCacheReport } from '@kfrm/db/testing/plan-cache.harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBankJourney, type BankJourney, type Customer } from './testing/bank-journey.harness';

const ROUNDS = 12;

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
    const { executed, plannedAfresh } = await planCacheReport(bank.services.database.kysely(), ROUNDS);
    // The paths ran: the batch write, the transfer's own rows and the login's statements are among them.
    expect(executed.join('\n')).toMatch(/insert into "ledger"\."entries"/);
    expect(executed.length).toBeGreaterThanOrEqual(10);
    expect(plannedAfresh).toEqual([]);
  }, 120_000);
});
