// Top-up and withdrawal (issue 15 item 4) against the real Konaplate client talking over HTTP to
// its sandbox, the funding tables and the real ledger (account service) on PostgreSQL. The
// ledger is reached in-process through the same port the gRPC adapter implements; a switch makes
// it unavailable as an outage would. Money is counted on both sides: the customer account plus
// the settlement account in the ledger, and what the sandbox recorded as moved.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError, isDomainError, UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { createKakaocertConsentProvider, createKakaocertClient } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { createKonaplateClient, type KonaplateClient } from '@kfrm/konaplate';
import { SANDBOX_HOLDERS, sandboxClientOptions, startKonaplateSandbox, type KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
// The real ledger, imported by path: a test-only need (funding reaches it over gRPC in service).
import { SETTLEMENT_ACCOUNT } from '../../account/src/ledger';
import { openTestLedger, type TestLedger } from '../../account/src/testing/ledger.harness';
import { createFunding, type Funding, type FundingDeps } from './funding';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import type { FundingLedger } from './ledger-port';
import { migrations } from './migrations';
import { formatReconciliationReport } from './reconcile-cli';
import { seoulDay } from './money-movement';
import { runReconcileCli } from './reconcile-cli';
import type { UserDirectory } from './user-directory';

const users: UserDirectory = {
  async findUser() {
    throw new DomainError('USER_NOT_FOUND', 'not needed by these tests');
  },
};

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('top-up and withdrawal through Konaplate and the ledger', () => {
  let database: TestDatabase;
  let testLedger: TestLedger;
  let konaplateSandbox: KonaplateSandbox;
  let kakaocertSandbox: KakaocertSandbox;
  let funding: Funding;
  let fundingDeps: FundingDeps;
  let ledgerDown = false;
  let creditDown = false;
  let nowMs = Date.now();
  const logs = createCapturingDestination();
  const DAILY_LIMIT = 1_000_000n;
  let userSeq = 0;
  /** Mismatch kinds as the metric counted them. */
  const counted: string[] = [];

  /** The ledger port over the real ledger, as grpcFundingLedger maps the service's answers. */
  function inProcessLedger(): FundingLedger {
    const call = async <T>(run: () => Promise<T>): Promise<T> => {
      if (ledgerDown) throw new UpstreamUnavailableError('the ledger could not answer');
      try {
        return await run();
      } catch (err) {
        if (err instanceof DomainError) throw new UpstreamRefusal(err.code, err.message);
        throw err;
      }
    };
    const ledger = testLedger.ledger;
    return {
      async findEntries(keys) {
        if (ledgerDown) throw new UpstreamUnavailableError('the ledger could not answer');
        const entries = await ledger.findEntriesByKeys(keys);
        return new Map(
          entries.map((e) => [
            e.idempotencyKey,
            { entryId: e.id, postings: e.postings.map((p) => ({ accountNumber: p.accountNumber, amountMinor: p.amountMinor })) },
          ]),
        );
      },
      async getAccountForOwner(ownerUserId, accountNumber) {
        if (ledgerDown) throw new UpstreamUnavailableError('the ledger could not answer');
        try {
          const account = await ledger.getAccountForOwner(ownerUserId, accountNumber);
          return {
            accountNumber,
            currency: account.currency === 'KRW' ? 'KRW' : 'OTHER',
            balanceMinor: account.balanceMinor,
            closed: false,
          };
        } catch (err) {
          if (isDomainError(err, 'ACCOUNT_NOT_FOUND')) return undefined;
          throw err;
        }
      },
      creditFromSettlement: (input) =>
        call(async () => {
          if (creditDown) throw new UpstreamUnavailableError('the ledger could not answer');
          const posted = await ledger.deposit({
            idempotencyKey: input.idempotencyKey,
            accountNumber: input.accountNumber,
            amount: { currency: 'KRW', minor: input.amountMinor },
            memo: input.memo,
            events: [{ userId: input.ownerUserId, type: 'TRANSFER_SUCCEED', kind: input.event, counterpartyName: '' }],
          });
          return { entryId: posted.entryId };
        }),
      debitToSettlement: (input) =>
        call(async () => {
          const posted = await ledger.postTransfer({
            idempotencyKey: input.idempotencyKey,
            fromAccountNumber: input.accountNumber,
            toAccountNumber: '',
            toExternalSettlement: true,
            withdrawal: true,
            amount: { currency: 'KRW', minor: input.amountMinor },
            debitMemo: input.memo,
            creditMemo: '',
            events: [{ userId: input.ownerUserId, type: 'TRANSFER_SUCCEED', kind: 'WITHDRAWAL', counterpartyName: '' }],
            sourceOwnerUserId: input.ownerUserId,
          });
          return { entryId: posted.entryId };
        }),
    };
  }

  const fundingDb = () => database.kysely<FundingDatabase>(FUNDING_SCHEMA);

  /** A user with a LINKED account (ARS stands in via setRegisteredAccounts) and a KRW account holding `balance`. */
  async function customer(balance: bigint) {
    userSeq += 1;
    const userId = `${2_000_000_000 + userSeq}`;
    const memberId = `${7_000_000_000 + userSeq}`;
    const holder = SANDBOX_HOLDERS[0]!;
    konaplateSandbox.setRegisteredAccounts(memberId, { normal: holder });
    const now = new Date(nowMs);
    await fundingDb()
      .insertInto('konaplate_members')
      .values({
        user_id: userId,
        login_id: `kfrm${randomUUID().replace(/-/g, '')}`,
        member_id: memberId,
        registered_at: now,
        updated_at: now,
      })
      .execute();
    const linked = await fundingDb()
      .insertInto('linked_accounts')
      .values({
        user_id: userId,
        bank_code: holder.bankCode,
        account_number: holder.bankAccount,
        bank_name: '신한은행',
        state: 'LINKED',
        holder_verified_at: now,
        holder_correlation_id: '260101000000-abcdef0',
        linked_at: now,
        // A consent verified by the linking flow (funding.it.test.ts covers it); its id only.
        consent_id: randomUUID(),
        auto_top_up_registered_at: null,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const account = await testLedger.ledger.createAccount({ ownerUserId: userId, name: '입출금', currency: 'KRW' });
    if (balance > 0n) {
      await testLedger.ledger.deposit({
        idempotencyKey: `seed-${userId}`,
        accountNumber: account.accountNumber,
        amount: { currency: 'KRW', minor: balance },
        memo: 'seed',
      });
    }
    return { userId, memberId, linkedAccountId: BigInt(linked.id), accountNumber: account.accountNumber };
  }

  type Customer = Awaited<ReturnType<typeof customer>>;

  const input = (c: Customer, amount: bigint, externalTransactionId: string = randomUUID()) => ({
    linkedAccountId: c.linkedAccountId,
    accountNumber: c.accountNumber,
    amount: { currency: 'KRW', major: amount, minor: 0n },
    externalTransactionId,
  });

  async function balanceOf(accountNumber: string): Promise<bigint> {
    const row = await testLedger.db
      .selectFrom('accounts')
      .select('balance_minor')
      .where('account_number', '=', accountNumber)
      .executeTakeFirstOrThrow();
    return BigInt(row.balance_minor);
  }

  /** Net money Konaplate moved into KFRM for this member (charges in, withdrawals out). */
  function movedIn(memberId: string): bigint {
    let net = 0n;
    for (const m of konaplateSandbox.moneyMovements.values()) {
      if (m.userId !== memberId || m.status !== 'SUCCESS') continue;
      net += m.kind === 'CHARGE' ? m.amount : -m.amount;
    }
    return net;
  }

  async function stateOf(c: Customer, externalId: string): Promise<string> {
    const row = await fundingDb()
      .selectFrom('money_movements')
      .select('state')
      .where('user_id', '=', c.userId)
      .where('external_transaction_id', '=', externalId)
      .executeTakeFirstOrThrow();
    return row.state;
  }

  const resolve = () => {
    nowMs += 1;
    return funding.resolvePendingMovements({ retryAfterMs: 0, maxRows: 100 });
  };

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: FUNDING_SCHEMA, migrations });
    testLedger = await openTestLedger({ maxBatchSize: 1 });
    konaplateSandbox = await startKonaplateSandbox({ port: 0 });
    kakaocertSandbox = await startKakaocertSandbox({});
    const logger = createLogger({ service: 'funding-money-test', level: 'debug', destination: logs });
    const kakaocert = createKakaocertClient({
      linkId: kakaocertSandbox.linkId,
      secretKey: kakaocertSandbox.secretKey,
      serviceUrl: kakaocertSandbox.url,
      authUrl: kakaocertSandbox.authUrl,
      logger,
    });
    fundingDeps = {
      db: fundingDb(),
      konaplate: createKonaplateClient(
        sandboxClientOptions(konaplateSandbox, { logger, timeoutMs: 300, inquiryRetry: { maxAttempts: 1, baseDelayMs: 5 } }),
      ),
      consents: createKakaocertConsentProvider(kakaocert, {
        clientCode: kakaocertSandbox.clientCode,
        callCenterNum: '1600-0000',
        trustAnchorsPem: kakaocertSandbox.caCertificatePem,
      }),
      users,
      logger,
      now: () => new Date(nowMs),
      ledger: inProcessLedger(),
      topUpLimitPerDayMinor: DAILY_LIMIT,
      movementLeaseMs: 30_000,
      onReconciliationMismatch: (kind) => counted.push(kind),
    };
    funding = createFunding(fundingDeps);
  }, 60_000);

  afterAll(async () => {
    await kakaocertSandbox?.close();
    await konaplateSandbox?.close();
    await testLedger?.close();
    await database?.close();
  });

  beforeEach(() => {
    konaplateSandbox.clearFaults();
    ledgerDown = false;
    creditDown = false;
  });

  it('a top-up charges the linked account at Konaplate and credits the KRW account from the settlement account', async () => {
    const c = await customer(0n);
    const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
    const row = await funding.topUp(c.userId, input(c, 50_000n));
    expect(row.state).toBe('SETTLED');
    expect(await balanceOf(c.accountNumber)).toBe(50_000n);
    expect(await balanceOf(SETTLEMENT_ACCOUNT.KRW)).toBe(settlementBefore - 50_000n);
    expect(movedIn(c.memberId)).toBe(50_000n);
    const statement = await testLedger.ledger.listTransactions(c.userId, c.accountNumber, 1, 10, 'test');
    expect(statement.lines[0]).toMatchObject({ amountMinor: 50_000n, memo: '신한은행 충전' });
  });

  it('the same external id and body answers the same top-up; another body is EXTERNAL_TRANSACTION_ID_REUSED', async () => {
    const c = await customer(0n);
    const first = await funding.topUp(c.userId, input(c, 10_000n, 'app-tx-1'));
    const again = await funding.topUp(c.userId, input(c, 10_000n, 'app-tx-1'));
    expect(again.id).toBe(first.id);
    expect(await balanceOf(c.accountNumber)).toBe(10_000n);
    expect(await codeOf(funding.topUp(c.userId, input(c, 20_000n, 'app-tx-1')))).toBe('EXTERNAL_TRANSACTION_ID_REUSED');
    expect(await codeOf(funding.withdraw(c.userId, input(c, 10_000n, 'app-tx-1')))).toBe('EXTERNAL_TRANSACTION_ID_REUSED');
    expect(movedIn(c.memberId)).toBe(10_000n);
  });

  it('refuses bad input with its own codes before anything is recorded', async () => {
    const c = await customer(0n);
    expect(await codeOf(funding.topUp(c.userId, { ...input(c, 1n), amount: { currency: 'KRW', major: 0n, minor: 0n } }))).toBe(
      'INVALID_AMOUNT',
    );
    expect(await codeOf(funding.topUp(c.userId, { ...input(c, 1n), amount: { currency: 'USD', major: 5n, minor: 0n } }))).toBe(
      'INVALID_AMOUNT',
    );
    expect(await codeOf(funding.topUp(c.userId, input(c, 1_000n, '')))).toBe('INVALID_EXTERNAL_TRANSACTION_ID');
    expect(await codeOf(funding.topUp(c.userId, { ...input(c, 1_000n), linkedAccountId: 999_999n }))).toBe('LINKED_ACCOUNT_NOT_FOUND');
    const other = await customer(0n);
    expect(await codeOf(funding.topUp(c.userId, { ...input(c, 1_000n), accountNumber: other.accountNumber }))).toBe('ACCOUNT_NOT_FOUND');
    await fundingDb()
      .updateTable('linked_accounts')
      .set({ state: 'HOLDER_VERIFIED', linked_at: null, consent_id: null })
      .where('id', '=', c.linkedAccountId.toString())
      .execute();
    expect(await codeOf(funding.topUp(c.userId, input(c, 1_000n)))).toBe('ACCOUNT_NOT_LINKED');
    const rows = await fundingDb().selectFrom('money_movements').select('id').where('user_id', '=', c.userId).execute();
    expect(rows).toHaveLength(0);
  });

  it('moves money only with the account Konaplate has registered for the member: another linked account is ACCOUNT_NOT_LINKED', async () => {
    const c = await customer(10_000n);
    // Konaplate's registered top-up account is another one (the member changed it at the bank).
    konaplateSandbox.setRegisteredAccounts(c.memberId, { normal: SANDBOX_HOLDERS[1]! });
    expect(await codeOf(funding.topUp(c.userId, input(c, 1_000n)))).toBe('ACCOUNT_NOT_LINKED');
    expect(await codeOf(funding.withdraw(c.userId, input(c, 1_000n)))).toBe('ACCOUNT_NOT_LINKED');
    konaplateSandbox.injectFault({ type: 'result', code: '002_006' }, { endpoint: 'inquireBankAccounts' });
    expect(await codeOf(funding.topUp(c.userId, input(c, 1_000n)))).toBe('BANK_UNAVAILABLE');
    expect(await balanceOf(c.accountNumber)).toBe(10_000n);
    expect(movedIn(c.memberId)).toBe(0n);
  });

  it('the daily top-up limit counts the Asia/Seoul day and refuses with TOP_UP_DAILY_LIMIT_EXCEEDED', async () => {
    const c = await customer(0n);
    // 23:30 in Seoul: the next top-up an hour later is on the next Seoul day.
    const day = seoulDay(new Date(nowMs));
    nowMs = Date.parse(`${day}T14:30:00Z`);
    await funding.topUp(c.userId, input(c, 600_000n));
    expect(await codeOf(funding.topUp(c.userId, input(c, 400_001n)))).toBe('TOP_UP_DAILY_LIMIT_EXCEEDED');
    await funding.topUp(c.userId, input(c, 400_000n));
    expect(await codeOf(funding.topUp(c.userId, input(c, 1n)))).toBe('TOP_UP_DAILY_LIMIT_EXCEEDED');
    nowMs += 3_600_000;
    expect((await funding.topUp(c.userId, input(c, 1_000_000n))).state).toBe('SETTLED');
    expect(await balanceOf(c.accountNumber)).toBe(2_000_000n);
    // Concurrent top-ups cannot pass the limit together.
    nowMs += 86_400_000;
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => funding.topUp(c.userId, input(c, 300_000n))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(await balanceOf(c.accountNumber)).toBe(2_900_000n);
    expect(movedIn(c.memberId)).toBe(2_900_000n);
  });

  it('a refused charge fails the top-up with nothing moved; a repeat answers the same refusal', async () => {
    const c = await customer(0n);
    konaplateSandbox.injectFault({ type: 'result', code: '002_008' }, { endpoint: 'charge' });
    expect(await codeOf(funding.topUp(c.userId, input(c, 5_000n, 'refused-1')))).toBe('TOP_UP_REFUSED');
    expect(await codeOf(funding.topUp(c.userId, input(c, 5_000n, 'refused-1')))).toBe('TOP_UP_REFUSED');
    konaplateSandbox.injectFault({ type: 'result', code: '002_006' }, { endpoint: 'charge' });
    expect(await codeOf(funding.topUp(c.userId, input(c, 5_000n)))).toBe('BANK_UNAVAILABLE');
    expect(await balanceOf(c.accountNumber)).toBe(0n);
    expect(movedIn(c.memberId)).toBe(0n);
  });

  it.each([
    ['a timeout after Konaplate charged', { type: 'delay', ms: 1_000 } as const, 30_000n],
    ['a dropped connection after Konaplate charged', { type: 'reset' } as const, 30_000n],
    ['a 5xx before Konaplate processed it', { type: 'status', status: 503 } as const, 30_000n],
  ])('%s: the top-up stays pending, then the job settles it once; money is conserved', async (_name, fault, amount) => {
    const c = await customer(0n);
    const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
    konaplateSandbox.injectFault(fault, { endpoint: 'charge' });
    const row = await funding.topUp(c.userId, input(c, amount, `fault-${fault.type}`));
    expect(row.state).toBe('PENDING');
    expect(await balanceOf(c.accountNumber)).toBe(0n);
    await new Promise((r) => setTimeout(r, 1_100));
    await resolve();
    expect(await stateOf(c, `fault-${fault.type}`)).toBe('SETTLED');
    await resolve();
    expect(await balanceOf(c.accountNumber)).toBe(amount);
    expect(movedIn(c.memberId)).toBe(amount);
    // Customer + settlement unchanged in the ledger; the customer's gain is exactly what Konaplate moved.
    expect((await balanceOf(c.accountNumber)) + (await balanceOf(SETTLEMENT_ACCOUNT.KRW))).toBe(settlementBefore);
    expect((await funding.topUp(c.userId, input(c, amount, `fault-${fault.type}`))).state).toBe('SETTLED');
  });

  describe('duplicate and conflicting answers (the assumed money API has no callbacks: retries and inquiries instead)', () => {
    /**
     * Another funding instance whose first result inquiry answers NOT_FOUND although Konaplate has
     * the transaction: a lagging replica, or an inquiry that overtook the charge inside Konaplate.
     */
    function laggingInquiry(): Funding {
      const konaplate: KonaplateClient = fundingDeps.konaplate;
      let lagging = true;
      return createFunding({
        ...fundingDeps,
        konaplate: {
          ...konaplate,
          async inquireTransaction(request, options) {
            if (!lagging) return konaplate.inquireTransaction(request, options);
            lagging = false;
            return { status: 'NOT_FOUND', correlationId: '000000000000-0000000' };
          },
        },
      });
    }
    const requestsTo = (endpoint: 'charge' | 'withdraw') => konaplateSandbox.requests.filter((r) => r.endpoint === endpoint).length;

    it('top-up: the same tranId sent twice (answer lost, then an inquiry that says NOT_FOUND) moves the money once', async () => {
      const c = await customer(0n);
      const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
      const chargesBefore = requestsTo('charge');
      konaplateSandbox.injectFault({ type: 'delay', ms: 1_000 }, { endpoint: 'charge' });
      expect((await funding.topUp(c.userId, input(c, 12_000n, 'dup-top-up'))).state).toBe('PENDING');
      await new Promise((r) => setTimeout(r, 1_100));
      nowMs += 1;
      await laggingInquiry().resolvePendingMovements({ retryAfterMs: 0, maxRows: 100 });
      // Sent twice under one tranId; Konaplate answered the second with the first result.
      expect(requestsTo('charge') - chargesBefore).toBe(2);
      expect(await stateOf(c, 'dup-top-up')).toBe('SETTLED');
      await resolve();
      expect(await balanceOf(c.accountNumber)).toBe(12_000n);
      expect(movedIn(c.memberId)).toBe(12_000n);
      expect((await balanceOf(c.accountNumber)) + (await balanceOf(SETTLEMENT_ACCOUNT.KRW))).toBe(settlementBefore);
    });

    it('withdrawal: the same tranId sent twice pays out once, and the reserved money is not given back', async () => {
      const c = await customer(50_000n);
      const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
      const payoutsBefore = requestsTo('withdraw');
      konaplateSandbox.injectFault({ type: 'delay', ms: 1_000 }, { endpoint: 'withdraw' });
      expect((await funding.withdraw(c.userId, input(c, 20_000n, 'dup-withdraw'))).state).toBe('PENDING');
      expect(await balanceOf(c.accountNumber)).toBe(30_000n);
      await new Promise((r) => setTimeout(r, 1_100));
      nowMs += 1;
      await laggingInquiry().resolvePendingMovements({ retryAfterMs: 0, maxRows: 100 });
      expect(requestsTo('withdraw') - payoutsBefore).toBe(2);
      expect(await stateOf(c, 'dup-withdraw')).toBe('SETTLED');
      await resolve();
      expect(await balanceOf(c.accountNumber)).toBe(30_000n);
      expect(movedIn(c.memberId)).toBe(-20_000n);
      // What left the customer sits in the settlement account, and Konaplate paid out exactly that.
      expect((await balanceOf(SETTLEMENT_ACCOUNT.KRW)) - settlementBefore).toBe(20_000n);
    });

    it('the app repeats the top-up while the job resolves it, twice at once: one charge settled, one credit', async () => {
      const c = await customer(0n);
      const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
      konaplateSandbox.injectFault({ type: 'delay', ms: 1_000 }, { endpoint: 'charge' });
      expect((await funding.topUp(c.userId, input(c, 8_000n, 'dup-concurrent'))).state).toBe('PENDING');
      await new Promise((r) => setTimeout(r, 1_100));
      nowMs += 1;
      const drivers = await Promise.allSettled([
        funding.topUp(c.userId, input(c, 8_000n, 'dup-concurrent')),
        funding.resolvePendingMovements({ retryAfterMs: 0, maxRows: 100 }),
        laggingInquiry().resolvePendingMovements({ retryAfterMs: 0, maxRows: 100 }),
        funding.topUp(c.userId, input(c, 8_000n, 'dup-concurrent')),
      ]);
      expect(drivers.every((d) => d.status === 'fulfilled')).toBe(true);
      await resolve();
      expect(await stateOf(c, 'dup-concurrent')).toBe('SETTLED');
      expect(await balanceOf(c.accountNumber)).toBe(8_000n);
      expect(movedIn(c.memberId)).toBe(8_000n);
      expect((await balanceOf(c.accountNumber)) + (await balanceOf(SETTLEMENT_ACCOUNT.KRW))).toBe(settlementBefore);
    });

    it('conflicting answers: the charge answered refused, the inquiry later says it succeeded — nothing credited blindly, reconciliation reports the difference', async () => {
      const savedNow = nowMs;
      const day = seoulDay(new Date(Date.parse('2031-03-09T03:00:00Z')));
      nowMs = Date.parse('2031-03-09T03:00:00Z');
      const c = await customer(0n);
      konaplateSandbox.injectFault({ type: 'result', code: '002_008' }, { endpoint: 'charge' });
      expect(await codeOf(funding.topUp(c.userId, input(c, 6_000n, 'conflict')))).toBe('TOP_UP_REFUSED');
      const tranId = (
        await fundingDb().selectFrom('money_movements').select('tran_id').where('user_id', '=', c.userId).executeTakeFirstOrThrow()
      ).tran_id;
      konaplateSandbox.alterMoneyMovement(tranId, { status: 'SUCCESS', resultCode: '000_000', approvalNo: 'KP999999999999' });
      await resolve();
      // A refusal is final for the service: the row stays FAILED, the ledger untouched...
      expect(await stateOf(c, 'conflict')).toBe('FAILED');
      expect(await balanceOf(c.accountNumber)).toBe(0n);
      // ...and the money Konaplate says it moved is exactly what reconciliation reports.
      const report = await funding.reconcileDay(day);
      nowMs = savedNow;
      const mine = report.mismatches.filter((m) => m.tranId === tranId);
      expect(mine).toMatchObject([{ kind: 'STATUS_DIFFERS', konaplateStatus: 'SUCCESS', konaplateAmount: 6_000n }]);
      expect(movedIn(c.memberId) - (await balanceOf(c.accountNumber))).toBe(mine[0]!.konaplateAmount);
    });
  });

  it('the ledger unavailable after Konaplate charged: pending until the job credits it', async () => {
    const c = await customer(0n);
    creditDown = true;
    expect((await funding.topUp(c.userId, input(c, 7_000n, 'ledger-down'))).state).toBe('PENDING');
    expect(movedIn(c.memberId)).toBe(7_000n);
    expect(await balanceOf(c.accountNumber)).toBe(0n);
    await resolve();
    expect(await stateOf(c, 'ledger-down')).toBe('PENDING');
    creditDown = false;
    await resolve();
    expect(await stateOf(c, 'ledger-down')).toBe('SETTLED');
    expect(await balanceOf(c.accountNumber)).toBe(7_000n);
    expect(movedIn(c.memberId)).toBe(7_000n);
  });

  it('a withdrawal debits the account to the settlement account and pays out at Konaplate', async () => {
    const c = await customer(100_000n);
    const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
    const row = await funding.withdraw(c.userId, input(c, 40_000n));
    expect(row.state).toBe('SETTLED');
    expect(await balanceOf(c.accountNumber)).toBe(60_000n);
    expect(await balanceOf(SETTLEMENT_ACCOUNT.KRW)).toBe(settlementBefore + 40_000n);
    expect(movedIn(c.memberId)).toBe(-40_000n);
    expect(await codeOf(funding.withdraw(c.userId, input(c, 60_001n)))).toBe('INSUFFICIENT_BALANCE');
    expect(await balanceOf(c.accountNumber)).toBe(60_000n);
  });

  it('a refused withdrawal gives the reserved money back; a repeat answers the same refusal', async () => {
    const c = await customer(100_000n);
    konaplateSandbox.injectFault({ type: 'result', code: '002_008' }, { endpoint: 'withdraw' });
    expect(await codeOf(funding.withdraw(c.userId, input(c, 40_000n, 'w-refused')))).toBe('WITHDRAWAL_REFUSED');
    expect(await balanceOf(c.accountNumber)).toBe(100_000n);
    expect(await codeOf(funding.withdraw(c.userId, input(c, 40_000n, 'w-refused')))).toBe('WITHDRAWAL_REFUSED');
    expect(movedIn(c.memberId)).toBe(0n);
    const statement = await testLedger.ledger.listTransactions(c.userId, c.accountNumber, 1, 10, 'test');
    expect(statement.lines.map((l) => l.memo).slice(0, 2)).toEqual(['신한은행 출금 취소', '신한은행 출금']);
  });

  it.each([
    ['a timeout after Konaplate paid out', { type: 'delay', ms: 1_000 } as const, true],
    ['a 5xx before Konaplate processed it', { type: 'status', status: 502 } as const, true],
  ])('%s: the withdrawal stays pending with the money reserved, then settles once', async (_name, fault, _unused) => {
    const c = await customer(100_000n);
    const settlementBefore = await balanceOf(SETTLEMENT_ACCOUNT.KRW);
    konaplateSandbox.injectFault(fault, { endpoint: 'withdraw' });
    const row = await funding.withdraw(c.userId, input(c, 25_000n, `wfault-${fault.type}`));
    expect(row.state).toBe('PENDING');
    expect(await balanceOf(c.accountNumber)).toBe(75_000n);
    await new Promise((r) => setTimeout(r, 1_100));
    await resolve();
    await resolve();
    expect(await stateOf(c, `wfault-${fault.type}`)).toBe('SETTLED');
    expect(await balanceOf(c.accountNumber)).toBe(75_000n);
    expect(movedIn(c.memberId)).toBe(-25_000n);
    expect((await balanceOf(c.accountNumber)) + (await balanceOf(SETTLEMENT_ACCOUNT.KRW))).toBe(settlementBefore + 100_000n);
  });

  it('a pending withdrawal that Konaplate then refuses (inquiry) is reversed by the job', async () => {
    const c = await customer(50_000n);
    // The 5xx leaves the outcome unknown; the resend through the job is refused.
    konaplateSandbox.injectFault({ type: 'status', status: 500 }, { endpoint: 'withdraw' });
    expect((await funding.withdraw(c.userId, input(c, 20_000n, 'w-late-refusal'))).state).toBe('PENDING');
    konaplateSandbox.injectFault({ type: 'result', code: '002_008' }, { endpoint: 'withdraw' });
    await resolve();
    expect(await stateOf(c, 'w-late-refusal')).toBe('FAILED');
    expect(await balanceOf(c.accountNumber)).toBe(50_000n);
    expect(movedIn(c.memberId)).toBe(0n);
    expect(await codeOf(funding.withdraw(c.userId, input(c, 20_000n, 'w-late-refusal')))).toBe('WITHDRAWAL_REFUSED');
  });

  it('top-ups, withdrawals and reversals reach the ledger outbox as facts for the notification service', async () => {
    const c = await customer(100_000n);
    const before = await testLedger.ledger.listOutboxEvents(0n, 1000);
    const after = before.at(-1)?.id ?? 0n;
    await funding.topUp(c.userId, input(c, 11_000n));
    await funding.withdraw(c.userId, input(c, 22_000n));
    konaplateSandbox.injectFault({ type: 'result', code: '002_008' }, { endpoint: 'withdraw' });
    await codeOf(funding.withdraw(c.userId, input(c, 33_000n)));
    const events = (await testLedger.ledger.listOutboxEvents(after, 1000)).filter((e) => e.userId === c.userId);
    expect(
      events.map((e) =>
        'facts' in e.body ? [e.body.facts.kind, e.body.facts.amountMinor, e.body.facts.accountNumber, e.body.facts.memo] : [],
      ),
    ).toEqual([
      ['TOP_UP', 11_000n, c.accountNumber, '신한은행 충전'],
      ['WITHDRAWAL', 22_000n, c.accountNumber, '신한은행 출금'],
      ['WITHDRAWAL', 33_000n, c.accountNumber, '신한은행 출금'],
      ['WITHDRAWAL_RETURNED', 33_000n, c.accountNumber, '신한은행 출금 취소'],
    ]);
    // The statement shows the withdrawal as 출금 (not as a transfer) and the top-up as 입금.
    const statement = await testLedger.ledger.listTransactions(c.userId, c.accountNumber, 1, 10, 'events');
    expect(statement.lines.slice(0, 4).map((l) => [l.kind, l.amountMinor])).toEqual([
      ['DEPOSIT', 33_000n],
      ['WITHDRAWAL', -33_000n],
      ['WITHDRAWAL', -22_000n],
      ['DEPOSIT', 11_000n],
    ]);
  });

  it('automatic top-up (for transfers): only from the registered auto top-up account, within the daily limit, once per key', async () => {
    const c = await customer(0n);
    const amount = { currency: 'KRW', major: 4_000n, minor: 0n };
    expect(await funding.autoTopUpAllowance(c.userId)).toEqual({ registered: false, remainingTodayMinor: 0n });
    expect(await codeOf(funding.autoTopUp(c.userId, c.accountNumber, amount, 'transfer-1'))).toBe('AUTO_TOP_UP_NOT_REGISTERED');
    await fundingDb()
      .updateTable('linked_accounts')
      .set({ auto_top_up_registered_at: new Date(nowMs) })
      .where('id', '=', c.linkedAccountId.toString())
      .execute();
    await funding.topUp(c.userId, input(c, 100_000n));
    expect(await funding.autoTopUpAllowance(c.userId)).toEqual({ registered: true, remainingTodayMinor: DAILY_LIMIT - 100_000n });
    const first = await funding.autoTopUp(c.userId, c.accountNumber, amount, 'transfer-1');
    expect(first.state).toBe('SETTLED');
    expect((await funding.autoTopUp(c.userId, c.accountNumber, amount, 'transfer-1')).id).toBe(first.id);
    expect(await codeOf(funding.autoTopUp(c.userId, c.accountNumber, { ...amount, major: 5_000n }, 'transfer-1'))).toBe(
      'EXTERNAL_TRANSACTION_ID_REUSED',
    );
    expect(await codeOf(funding.autoTopUp(c.userId, c.accountNumber, { ...amount, major: DAILY_LIMIT }, 'transfer-2'))).toBe(
      'TOP_UP_DAILY_LIMIT_EXCEEDED',
    );
    expect(await balanceOf(c.accountNumber)).toBe(104_000n);
    expect(movedIn(c.memberId)).toBe(104_000n);
  });

  describe('reconciliation of a day', () => {
    /** Moves the clock to 03:00 UTC (12:00 in Seoul) of a day no other test uses. */
    const onDay = (day: string) => {
      nowMs = Date.parse(`${day}T03:00:00Z`);
      return day;
    };
    const rowOf = (c: Customer, externalId: string) =>
      fundingDb()
        .selectFrom('money_movements')
        .selectAll()
        .where('user_id', '=', c.userId)
        .where('external_transaction_id', '=', externalId)
        .executeTakeFirstOrThrow();

    it('a clean day reports no mismatch and counts none', async () => {
      const savedNow = nowMs;
      const day = onDay('2031-03-01');
      const c = await customer(20_000n);
      await funding.topUp(c.userId, input(c, 7_000n));
      await funding.withdraw(c.userId, input(c, 5_000n));
      const before = counted.length;
      const report = await funding.reconcileDay(day);
      nowMs = savedNow;
      expect(report).toMatchObject({ day, checked: 2, mismatches: [] });
      expect(counted.length).toBe(before);
    });

    it('reports each disagreement with Konaplate or the ledger, once, as a metric and a report line', async () => {
      const savedNow = nowMs;
      const day = onDay('2031-03-02');
      const c = await customer(50_000n);
      const ids = ['recon-credit-lost', 'recon-amount', 'recon-unknown-tran', 'recon-refused-here', 'recon-clean'];
      // The ledger cannot credit the first one: Konaplate charged, the row stays pending.
      creditDown = true;
      await funding.topUp(c.userId, input(c, 10_000n, ids[0]));
      creditDown = false;
      for (const id of ids.slice(1, 4)) await funding.topUp(c.userId, input(c, 10_000n, id));
      await funding.withdraw(c.userId, input(c, 2_000n, ids[4]));
      // A faulty step marks it refused: Konaplate charged, the ledger was never credited.
      await fundingDb()
        .updateTable('money_movements')
        .set({ state: 'FAILED', konaplate_outcome: 'FAILED', failure_code: 'TOP_UP_REFUSED', credit_entry_id: null, settled_at: null })
        .where('id', '=', (await rowOf(c, 'recon-credit-lost')).id)
        .execute();
      // Konaplate's record of a settled top-up has another amount.
      konaplateSandbox.alterMoneyMovement((await rowOf(c, 'recon-amount')).tran_id, { amount: 10_001n });
      // Konaplate has no record of a settled top-up.
      konaplateSandbox.alterMoneyMovement((await rowOf(c, 'recon-unknown-tran')).tran_id, null);
      // Konaplate says it refused what we settled and credited.
      konaplateSandbox.alterMoneyMovement((await rowOf(c, 'recon-refused-here')).tran_id, { status: 'FAILED', resultCode: '002_001' });
      const before = counted.length;
      const logStart = logs.lines.length;
      const report = await funding.reconcileDay(day);
      nowMs = savedNow;

      const byId = async (id: string) => (await rowOf(c, id)).id;
      const byKindThenId = (a: { kind: string; movementId: string }, b: { kind: string; movementId: string }) =>
        a.kind.localeCompare(b.kind) || a.movementId.localeCompare(b.movementId);
      expect(report.checked).toBe(5);
      expect(report.mismatches.map((m) => ({ kind: m.kind, movementId: m.movementId })).sort(byKindThenId)).toEqual(
        [
          { kind: 'AMOUNT_DIFFERS', movementId: await byId('recon-amount') },
          { kind: 'MISSING_AT_KONAPLATE', movementId: await byId('recon-unknown-tran') },
          { kind: 'STATUS_DIFFERS', movementId: await byId('recon-credit-lost') },
          { kind: 'STATUS_DIFFERS', movementId: await byId('recon-refused-here') },
        ].sort(byKindThenId),
      );
      expect(counted.slice(before).sort()).toEqual(['AMOUNT_DIFFERS', 'MISSING_AT_KONAPLATE', 'STATUS_DIFFERS', 'STATUS_DIFFERS']);
      const lines = logs.lines.slice(logStart).filter((l) => l.includes('reconciliation mismatch'));
      expect(lines).toHaveLength(4);
      for (const line of lines) {
        expect(line).toContain(day);
        expect(line).not.toContain(c.accountNumber);
        expect(line).not.toContain(c.userId);
      }
    });

    it('finds in Konaplate’s transaction history what it moved under a tranId we never recorded: one metric and one report line each', async () => {
      const savedNow = nowMs;
      const day = onDay('2031-03-05');
      const c = await customer(30_000n);
      const known = await funding.topUp(c.userId, input(c, 4_000n));
      // The sandbox stamps with the real clock: put our top-up on the test's day, where the history lists it.
      konaplateSandbox.alterMoneyMovement(
        (await fundingDb().selectFrom('money_movements').select('tran_id').where('id', '=', known.id).executeTakeFirstOrThrow()).tran_id,
        {
          at: new Date(nowMs),
        },
      );
      // Konaplate moved money for our member that no top-up or withdrawal of ours asked for
      // (an operator's manual charge, another system using our credentials): the ledger has nothing.
      const foreignCharge = konaplateSandbox.recordForeignMovement({
        userId: c.memberId,
        kind: 'CHARGE',
        amount: 9_999n,
        at: new Date(nowMs),
      });
      const foreignPayout = konaplateSandbox.recordForeignMovement({
        userId: c.memberId,
        kind: 'WITHDRAW',
        amount: 1_234n,
        at: new Date(nowMs),
      });
      // On another day: not this day's business.
      konaplateSandbox.recordForeignMovement({ userId: c.memberId, kind: 'CHARGE', amount: 5n, at: new Date(nowMs + 86_400_000) });
      const before = counted.length;
      const logStart = logs.lines.length;
      const report = await funding.reconcileDay(day);
      nowMs = savedNow;

      expect(report.checked).toBe(1);
      expect(
        report.mismatches
          .map((m) => ({ kind: m.kind, tranId: m.tranId, movementKind: m.movementKind, konaplateAmount: m.konaplateAmount }))
          .sort((a, b) => a.tranId.localeCompare(b.tranId)),
      ).toEqual(
        [
          { kind: 'UNKNOWN_TRANSACTION', tranId: foreignCharge.tranId, movementKind: 'TOP_UP', konaplateAmount: 9_999n },
          { kind: 'UNKNOWN_TRANSACTION', tranId: foreignPayout.tranId, movementKind: 'WITHDRAWAL', konaplateAmount: 1_234n },
        ].sort((a, b) => a.tranId.localeCompare(b.tranId)),
      );
      expect(counted.slice(before)).toEqual(['UNKNOWN_TRANSACTION', 'UNKNOWN_TRANSACTION']);
      const lines = logs.lines.slice(logStart).filter((l) => l.includes('reconciliation mismatch'));
      expect(lines).toHaveLength(2);
      expect(lines.some((l) => l.includes(foreignCharge.tranId))).toBe(true);
      for (const line of lines) expect(line).not.toContain(c.accountNumber);
      const printed = formatReconciliationReport(report);
      expect(printed.filter((l) => l.includes('kind=UNKNOWN_TRANSACTION'))).toHaveLength(2);
      expect(printed.at(-1)).toContain('listed=3');
    });

    it("compares with the ledger's entries: a settled top-up never credited, a credit of another amount, a row still pending", async () => {
      const savedNow = nowMs;
      const day = onDay('2031-03-03');
      const c = await customer(0n);
      creditDown = true;
      for (const [id, amount] of [
        ['recon-uncredited', 3_000n],
        ['recon-ledger-amount', 4_000n],
        ['recon-pending', 5_000n],
      ] as const) {
        expect((await funding.topUp(c.userId, input(c, amount, id))).state).toBe('PENDING');
      }
      creditDown = false;
      const uncredited = await rowOf(c, 'recon-uncredited');
      const otherAmount = await rowOf(c, 'recon-ledger-amount');
      // The ledger credited another amount under the movement's key.
      const posted = await testLedger.ledger.deposit({
        idempotencyKey: `funding-top-up:${otherAmount.id}`,
        accountNumber: c.accountNumber,
        amount: { currency: 'KRW', minor: 4_001n },
        memo: 'test',
      });
      // Both marked settled as a faulty step would: one without any credit in the ledger.
      await fundingDb()
        .updateTable('money_movements')
        .set({ state: 'SETTLED', settled_at: new Date(nowMs), credit_entry_id: 999_999_999n })
        .where('id', '=', uncredited.id)
        .execute();
      await fundingDb()
        .updateTable('money_movements')
        .set({ state: 'SETTLED', settled_at: new Date(nowMs), credit_entry_id: posted.entryId })
        .where('id', '=', otherAmount.id)
        .execute();
      const report = await funding.reconcileDay(day);
      nowMs = savedNow;
      expect(report.mismatches.map((m) => [m.kind, m.movementId]).sort()).toEqual(
        [
          ['LEDGER_AMOUNT_DIFFERS', otherAmount.id],
          ['MISSING_IN_LEDGER', uncredited.id],
          ['STILL_PENDING', (await rowOf(c, 'recon-pending')).id],
        ].sort(),
      );
    });

    it('the periodic job reconciles the previous day once, however often it runs', async () => {
      const savedNow = nowMs;
      onDay('2031-03-04');
      const c = await customer(0n);
      await funding.topUp(c.userId, input(c, 1_000n));
      onDay('2031-03-05');
      const first = await funding.reconcilePreviousDay(60_000);
      const second = await funding.reconcilePreviousDay(60_000);
      nowMs = savedNow;
      expect(first).toMatchObject({ day: '2031-03-04', checked: 1, mismatches: [] });
      expect(second).toBeUndefined();
      const run = await fundingDb()
        .selectFrom('reconciliation_runs')
        .selectAll()
        .where('seoul_day', '=', '2031-03-04')
        .executeTakeFirstOrThrow();
      expect(run).toMatchObject({ checked: 1, mismatches: 0, lease_owner: null });
      expect(run.finished_at).not.toBeNull();
    });

    it.runIf(process.env.DATABASE_URL)('pnpm reconcile prints the report and exits 1 on mismatches, 0 on a clean day', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kfrm-reconcile-'));
      const { keys } = konaplateSandbox;
      await writeFile(join(dir, 'server.pem'), keys.serverPublicKey);
      await writeFile(join(dir, 'client.pem'), keys.clientPrivateKey!);
      const env = {
        DATABASE_URL: database.databaseUrl,
        KONAPLATE_URL: konaplateSandbox.url,
        KONAPLATE_ASP_ID: keys.aspId,
        KONAPLATE_ACCESS_KEY: keys.accessKey,
        KONAPLATE_SECRET_KEY: keys.secretKey,
        KONAPLATE_CRYPTO_KEY_ID: keys.cryptoKeyId,
        KONAPLATE_SERVER_PUBLIC_KEY_FILE: join(dir, 'server.pem'),
        KONAPLATE_CLIENT_PRIVATE_KEY_FILE: join(dir, 'client.pem'),
        LOG_LEVEL: 'silent',
      };
      const run = async (argv: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await runReconcileCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l), ledger: inProcessLedger() });
        return { code, out, err };
      };
      const dirty = await run(['--date', '2031-03-02']);
      expect(dirty.err).toEqual([]);
      expect(dirty.code).toBe(1);
      expect(
        dirty.out
          .filter((l) => l.startsWith('MISMATCH '))
          .map((l) => /kind=(\S+)/.exec(l)![1])
          .sort(),
      ).toEqual(['AMOUNT_DIFFERS', 'MISSING_AT_KONAPLATE', 'STATUS_DIFFERS', 'STATUS_DIFFERS']);
      expect(dirty.out.at(-1)).toBe('reconciliation day=2031-03-02 checked=5 listed=0 mismatches=4');
      const clean = await run(['--date=2031-03-01']);
      expect(clean).toEqual({ code: 0, out: ['reconciliation day=2031-03-01 checked=2 listed=0 mismatches=0'], err: [] });
      expect((await run(['--date', '2031-02-30'])).code).toBe(2);
      expect((await run(['--since', '2031-03-01'])).code).toBe(2);
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a day that is not yyyy-MM-dd', async () => {
      await expect(funding.reconcileDay('2031-3-1')).rejects.toThrow(/yyyy-MM-dd/);
    });
  });

  it('no log line carries a full account number', () => {
    if (process.env.SHOW_LOGS) console.log(logs.lines.filter((l) => /step failed|error|warn/.test(l)).join('\n'));
    const text = logs.text();
    expect(text).not.toContain(SANDBOX_HOLDERS[0]!.bankAccount);
  });
});
