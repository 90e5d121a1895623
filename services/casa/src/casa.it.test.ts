// The opening use cases against a real database (PGlite, or Postgres with DATABASE_URL), with the
// user and ledger services as small fakes served over gRPC in this process (so the adapters and
// their error mapping are exercised too).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSecretHasher } from '@kfrm/credentials';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError, InvalidArgumentError } from '@kfrm/errors';
import { createLogger } from '@kfrm/logging';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { KycStatus, UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { startServices, type RunningServices } from '@kfrm/runtime';
import { createMemoryStore } from '@kfrm/store';
import { createCasa, idempotencyKeyFor, type Casa } from './casa';
import { CASA_SCHEMA, type CasaDatabase } from './casa.table';
import { migrations } from './migrations';
import { fakeLedgerService, fakeUserService, readyUser } from './testing/upstreams.fake';
import { grpcLedgerAccounts, grpcUserDirectory } from './upstream';

async function domainCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  throw new Error('the call succeeded');
}

const ALL_MANDATORY = [
  { termId: 1n, agreed: true },
  { termId: 2n, agreed: true },
  { termId: 3n, agreed: true },
];

let nextUser = 1000;
const newUserId = () => String(++nextUser);

describe('CASA opening use cases', () => {
  const users = fakeUserService();
  const ledger = fakeLedgerService();
  const hasher = createSecretHasher({ pepper: randomBytes(32) });
  let dataDir: string;
  let database: TestDatabase;
  let running: RunningServices;
  let clock: Date;
  let casa: Casa;
  let casaWithShortClaim: Casa;

  const openings = () => database.kysely<CasaDatabase>(CASA_SCHEMA).selectFrom('openings').selectAll();
  const ledgerCallsFor = (userId: string) => ledger.calls.filter((c) => c.ownerUserId === userId);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kfrm-casa-'));
    database = await openTestDatabase();
    await migrateSchema(database, { schema: CASA_SCHEMA, migrations });
    running = await startServices([users.module, ledger.module], {
      name: 'casa-test',
      env: { KFRM_DATA_DIR: dataDir, KFRM_MOBILE_LISTEN: '127.0.0.1:0', KFRM_INTERNAL_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'silent' },
      db: database,
      store: createMemoryStore(),
    });
    const deps = {
      db: database.kysely<CasaDatabase>(CASA_SCHEMA),
      users: grpcUserDirectory(() => running.internalClientsOf('casa').get(UserServiceClient)),
      ledger: grpcLedgerAccounts(() => running.internalClientsOf('casa').get(LedgerServiceClient)),
      hasher,
      logger: createLogger({ service: 'casa-test', level: 'silent' }),
      now: () => clock,
    };
    casa = createCasa(deps);
    casaWithShortClaim = createCasa({ ...deps, claimMs: 1_000 });
  }, 60_000);

  afterAll(async () => {
    await running?.stop();
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    clock = new Date('2026-11-24T01:00:00Z');
    ledger.setBehaviour('ok');
  });

  /** A user ready to open (CIF, KYC, mandatory terms agreed). */
  async function readyToOpen(): Promise<string> {
    const userId = newUserId();
    users.users.set(userId, readyUser());
    await casa.agreeTerms(userId, ALL_MANDATORY);
    return userId;
  }

  describe('InitiateOpening', () => {
    it('reports where the user stands from the user service record', async () => {
      const cases: [Partial<ReturnType<typeof readyUser>>, string][] = [
        [{}, 'OK'],
        [{ customerId: '' }, 'WAIT_FOR_CIF'],
        [{ customerId: '', kycStatus: KycStatus.NONE }, 'WAIT_FOR_CIF'],
        [{ kycStatus: KycStatus.NONE }, 'WAIT_FOR_KYC'],
        [{ kycStatus: KycStatus.REGISTERED }, 'WAIT_FOR_KYC'],
        [{ kycStatus: KycStatus.PROCESSING }, 'WAIT_FOR_KYC'],
        [{ kycStatus: KycStatus.ON_HOLD }, 'WAIT_FOR_KYC'],
        [{ kycStatus: KycStatus.REJECTED }, 'WAIT_FOR_KYC'],
        [{ userStatus: UserStatus.BLOCKED }, 'NONE'],
        [{ userStatus: UserStatus.DEACTIVATED }, 'NONE'],
      ];
      for (const [over, expected] of cases) {
        const userId = newUserId();
        users.users.set(userId, readyUser(over));
        expect(await casa.initiateOpening(userId), JSON.stringify(over)).toBe(expected);
      }
    });

    it('USER_NOT_FOUND for a user the user service does not know', async () => {
      expect(await domainCode(casa.initiateOpening(newUserId()))).toBe('USER_NOT_FOUND');
    });

    it('OK once the account is opened, whatever the record says later', async () => {
      const userId = await readyToOpen();
      await casa.completeOpening(userId, '2580');
      users.users.set(userId, readyUser({ kycStatus: KycStatus.ON_HOLD }));
      expect(await casa.initiateOpening(userId)).toBe('OK');
    });
  });

  describe('terms', () => {
    it('lists the seeded terms in order, three of them mandatory', async () => {
      const terms = await casa.listTerms();
      expect(terms.map((t) => t.id)).toEqual([1n, 2n, 3n, 4n]);
      expect(terms.filter((t) => t.mandatory).map((t) => t.id)).toEqual([1n, 2n, 3n]);
      for (const t of terms) expect(t.name && t.url && t.description).toBeTruthy();
    });

    it('stores the answers per user with their time', async () => {
      const userId = newUserId();
      await casa.agreeTerms(userId, [...ALL_MANDATORY, { termId: 4n, agreed: true }]);
      clock = new Date('2026-11-24T02:00:00Z');
      await casa.agreeTerms(userId, [{ termId: 4n, agreed: false }]);
      const rows = await database
        .kysely<CasaDatabase>(CASA_SCHEMA)
        .selectFrom('term_agreements')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('term_id')
        .execute();
      expect(rows.map((r) => [String(r.term_id), r.agreed, r.answered_at.toISOString()])).toEqual([
        ['1', true, '2026-11-24T01:00:00.000Z'],
        ['2', true, '2026-11-24T01:00:00.000Z'],
        ['3', true, '2026-11-24T01:00:00.000Z'],
        ['4', false, '2026-11-24T02:00:00.000Z'],
      ]);
    });

    it('refuses unknown term ids and stores nothing', async () => {
      const userId = newUserId();
      expect(await domainCode(casa.agreeTerms(userId, [...ALL_MANDATORY, { termId: 99n, agreed: true }]))).toBe('TERM_NOT_FOUND');
      expect(await domainCode(casa.agreeTerms(userId, [{ termId: 0n, agreed: true }]))).toBe('TERM_NOT_FOUND');
      const rows = await database
        .kysely<CasaDatabase>(CASA_SCHEMA)
        .selectFrom('term_agreements')
        .select('term_id')
        .where('user_id', '=', userId)
        .execute();
      expect(rows).toEqual([]);
    });

    it('requires every mandatory term to end up agreed, and stores nothing otherwise', async () => {
      const userId = newUserId();
      expect(await domainCode(casa.agreeTerms(userId, ALL_MANDATORY.slice(0, 2)))).toBe('MANDATORY_TERMS_NOT_AGREED');
      expect(await domainCode(casa.agreeTerms(userId, [...ALL_MANDATORY.slice(0, 2), { termId: 3n, agreed: false }]))).toBe(
        'MANDATORY_TERMS_NOT_AGREED',
      );
      expect(await domainCode(casa.agreeTerms(userId, []))).toBe('MANDATORY_TERMS_NOT_AGREED');
      const rows = await database
        .kysely<CasaDatabase>(CASA_SCHEMA)
        .selectFrom('term_agreements')
        .select('term_id')
        .where('user_id', '=', userId)
        .execute();
      expect(rows).toEqual([]);
      await casa.agreeTerms(userId, ALL_MANDATORY);
      // Agreed before: an empty or optional-only answer is fine; withdrawing a mandatory one is not.
      await casa.agreeTerms(userId, []);
      await casa.agreeTerms(userId, [{ termId: 4n, agreed: true }]);
      expect(await domainCode(casa.agreeTerms(userId, [{ termId: 2n, agreed: false }]))).toBe('MANDATORY_TERMS_NOT_AGREED');
    });

    it('refuses a term listed twice in one call', async () => {
      await expect(casa.agreeTerms(newUserId(), [...ALL_MANDATORY, { termId: 1n, agreed: false }])).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    });

    it("one user's agreements never count for another", async () => {
      const a = await readyToOpen();
      const b = newUserId();
      users.users.set(b, readyUser());
      expect(a).not.toBe(b);
      expect(await domainCode(casa.completeOpening(b, '2580'))).toBe('MANDATORY_TERMS_NOT_AGREED');
    });
  });

  describe('CompleteOpening', () => {
    it('creates the ledger account with the default limits and records the opening with a slow hash', async () => {
      const userId = await readyToOpen();
      const opened = await casa.completeOpening(userId, '2580');
      expect(opened.limit).toEqual({ perTransactionKrw: 5_000_000n, perDayKrw: 10_000_000n });
      const calls = ledgerCallsFor(userId);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        ownerUserId: userId,
        accountName: '입출금통장',
        currency: CurrencyCode.KRW,
        limitPerTransaction: { currencyCode: CurrencyCode.KRW, majorAmount: 5_000_000n, minorAmount: 0n },
        limitPerDay: { currencyCode: CurrencyCode.KRW, majorAmount: 10_000_000n, minorAmount: 0n },
      });
      expect(opened.accountNumber).toBe(ledger.created.find((c) => c.request.ownerUserId === userId)!.accountNumber);

      const row = await openings().where('user_id', '=', userId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        state: 'OPENED',
        account_number: opened.accountNumber,
        idempotency_key: idempotencyKeyFor(userId),
        claim_token: null,
      });
      expect(row.opened_at?.toISOString()).toBe(clock.toISOString());
      expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(row.password_hash).not.toContain('2580');
      expect(await hasher.verifySecret(row.password_hash, '2580')).toBe(true);
      expect(await hasher.verifySecret(row.password_hash, '2581')).toBe(false);
      // Another pepper cannot verify it (the database alone is not enough to search 10,000 values).
      expect(await createSecretHasher({ pepper: randomBytes(32) }).verifySecret(row.password_hash, '2580')).toBe(false);
    });

    it('opening twice: CASA_ALREADY_OPENED, nothing created', async () => {
      const userId = await readyToOpen();
      const first = await casa.completeOpening(userId, '2580');
      expect(await domainCode(casa.completeOpening(userId, '3691'))).toBe('CASA_ALREADY_OPENED');
      expect(ledgerCallsFor(userId)).toHaveLength(1);
      const row = await openings().where('user_id', '=', userId).executeTakeFirstOrThrow();
      expect(row.account_number).toBe(first.accountNumber);
      expect(await hasher.verifySecret(row.password_hash, '2580')).toBe(true);
    });

    it.each([
      [{ customerId: '' }, 'CIF_NOT_FOUND'],
      [{ kycStatus: KycStatus.PROCESSING }, 'KYC_NOT_VERIFIED'],
      [{ kycStatus: KycStatus.REJECTED }, 'KYC_NOT_VERIFIED'],
      [{ userStatus: UserStatus.BLOCKED }, 'USER_STATUS_CONFLICT'],
    ] as const)('refuses %j with %s and creates nothing', async (over, code) => {
      const userId = await readyToOpen();
      users.users.set(userId, readyUser(over));
      expect(await domainCode(casa.completeOpening(userId, '2580'))).toBe(code);
      expect(ledgerCallsFor(userId)).toHaveLength(0);
      expect(await openings().where('user_id', '=', userId).execute()).toEqual([]);
    });

    it('refuses without agreed mandatory terms and creates nothing', async () => {
      const userId = newUserId();
      users.users.set(userId, readyUser());
      expect(await domainCode(casa.completeOpening(userId, '2580'))).toBe('MANDATORY_TERMS_NOT_AGREED');
      expect(ledgerCallsFor(userId)).toHaveLength(0);
      expect(await openings().where('user_id', '=', userId).execute()).toEqual([]);
    });

    it('USER_NOT_FOUND for an unknown user', async () => {
      const userId = newUserId();
      expect(await domainCode(casa.completeOpening(userId, '2580'))).toBe('USER_NOT_FOUND');
      expect(ledgerCallsFor(userId)).toHaveLength(0);
    });

    it.each([
      ['258', 'INVALID_ACCOUNT_PASSWORD'],
      ['25800', 'INVALID_ACCOUNT_PASSWORD'],
      ['25a0', 'INVALID_ACCOUNT_PASSWORD'],
      ['1111', 'WEAK_ACCOUNT_PASSWORD'],
      ['1234', 'WEAK_ACCOUNT_PASSWORD'],
      // The user's birth date (1990-03-15) and phone number (010-1234-5678) from the user record.
      ['0315', 'WEAK_ACCOUNT_PASSWORD'],
      ['1990', 'WEAK_ACCOUNT_PASSWORD'],
    ])('refuses password %s with %s and creates nothing', async (password, code) => {
      const userId = await readyToOpen();
      expect(await domainCode(casa.completeOpening(userId, password))).toBe(code);
      expect(ledgerCallsFor(userId)).toHaveLength(0);
      expect(await openings().where('user_id', '=', userId).execute()).toEqual([]);
    });

    it('a definite ledger refusal leaves nothing behind; the user can try again', async () => {
      const userId = await readyToOpen();
      ledger.setBehaviour('refuse');
      await expect(casa.completeOpening(userId, '2580')).rejects.toThrow(/ledger CreateAccount failed/);
      expect(await openings().where('user_id', '=', userId).execute()).toEqual([]);
      ledger.setBehaviour('ok');
      await casa.completeOpening(userId, '2580');
      expect(ledger.created.filter((c) => c.request.ownerUserId === userId)).toHaveLength(1);
    });

    it('a lost ledger answer is OUTCOME_UNKNOWN; the row keeps its key and the next attempt finishes the opening', async () => {
      const userId = await readyToOpen();
      ledger.setBehaviour('create-then-fail');
      expect(await domainCode(casa.completeOpening(userId, '2580'))).toBe('OUTCOME_UNKNOWN');
      const pending = await openings().where('user_id', '=', userId).executeTakeFirstOrThrow();
      expect(pending).toMatchObject({
        state: 'PENDING',
        idempotency_key: idempotencyKeyFor(userId),
        claim_token: null,
        account_number: null,
      });
      expect(pending.outcome_unknown_at).not.toBeNull();
      // Not "already opened": the opening is not finished.
      expect(await casa.initiateOpening(userId)).toBe('OK');

      ledger.setBehaviour('ok');
      const opened = await casa.completeOpening(userId, '3691');
      const row = await openings().where('user_id', '=', userId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        state: 'OPENED',
        account_number: opened.accountNumber,
        idempotency_key: idempotencyKeyFor(userId),
        outcome_unknown_at: null,
      });
      expect(await hasher.verifySecret(row.password_hash, '3691')).toBe(true);
      // The same key both times; see README: until the ledger's CreateAccount takes that key, the
      // first, answer-lost call may have left an empty account behind (here the fake did).
      expect(ledgerCallsFor(userId)).toHaveLength(2);
    });

    it('concurrent attempts of one user: one ledger call, the others CASA_OPENING_IN_PROGRESS', async () => {
      const userId = await readyToOpen();
      const release = ledger.hold();
      const first = casa.completeOpening(userId, '2580');
      // Wait until the first attempt holds the claim and is inside the ledger call.
      while (ledgerCallsFor(userId).length === 0) await new Promise((r) => setTimeout(r, 5));
      const others = await Promise.all([1, 2, 3, 4].map(() => domainCode(casa.completeOpening(userId, '2580'))));
      expect(others).toEqual([
        'CASA_OPENING_IN_PROGRESS',
        'CASA_OPENING_IN_PROGRESS',
        'CASA_OPENING_IN_PROGRESS',
        'CASA_OPENING_IN_PROGRESS',
      ]);
      release();
      await first;
      expect(ledgerCallsFor(userId)).toHaveLength(1);
      expect(await domainCode(casa.completeOpening(userId, '2580'))).toBe('CASA_ALREADY_OPENED');
    });

    it('an attempt that died before the ledger call (lapsed claim) is taken over by the next one', async () => {
      const userId = await readyToOpen();
      await database
        .kysely<CasaDatabase>(CASA_SCHEMA)
        .insertInto('openings')
        .values({
          user_id: userId,
          state: 'PENDING',
          idempotency_key: idempotencyKeyFor(userId),
          password_hash: await hasher.hashSecret('2580'),
          limit_per_transaction_krw: 5_000_000n,
          limit_per_day_krw: 10_000_000n,
          claim_token: 'dead-process',
          claimed_until: new Date(clock.getTime() + 500),
          started_at: clock,
        })
        .execute();
      expect(await domainCode(casaWithShortClaim.completeOpening(userId, '2580'))).toBe('CASA_OPENING_IN_PROGRESS');
      clock = new Date(clock.getTime() + 1_000);
      const opened = await casaWithShortClaim.completeOpening(userId, '2580');
      expect(ledgerCallsFor(userId)).toHaveLength(1);
      expect((await openings().where('user_id', '=', userId).executeTakeFirstOrThrow()).account_number).toBe(opened.accountNumber);
    });

    it('the user service being unreachable is EXTERNAL_SERVICE_UNAVAILABLE and nothing is created', async () => {
      const userId = await readyToOpen();
      const blind = createCasa({
        db: database.kysely<CasaDatabase>(CASA_SCHEMA),
        users: grpcUserDirectory(() => new UserServiceClient('127.0.0.1:1', grpc.credentials.createInsecure())),
        ledger: grpcLedgerAccounts(() => running.internalClientsOf('casa').get(LedgerServiceClient)),
        hasher,
        logger: createLogger({ service: 'casa-test', level: 'silent' }),
        now: () => clock,
      });
      expect(await domainCode(blind.initiateOpening(userId))).toBe('EXTERNAL_SERVICE_UNAVAILABLE');
      expect(await domainCode(blind.completeOpening(userId, '2580'))).toBe('EXTERNAL_SERVICE_UNAVAILABLE');
      expect(ledgerCallsFor(userId)).toHaveLength(0);
      expect(await openings().where('user_id', '=', userId).execute()).toEqual([]);
    });

    it('the ledger being unreachable is OUTCOME_UNKNOWN (a request may have left) and nothing is opened', async () => {
      const userId = await readyToOpen();
      const unreachable = createCasa({
        db: database.kysely<CasaDatabase>(CASA_SCHEMA),
        users: grpcUserDirectory(() => running.internalClientsOf('casa').get(UserServiceClient)),
        ledger: grpcLedgerAccounts(() => new LedgerServiceClient('127.0.0.1:1', grpc.credentials.createInsecure())),
        hasher,
        logger: createLogger({ service: 'casa-test', level: 'silent' }),
        now: () => clock,
      });
      expect(await domainCode(unreachable.completeOpening(userId, '2580'))).toBe('OUTCOME_UNKNOWN');
      expect(await openings().where('user_id', '=', userId).where('state', '=', 'OPENED').execute()).toEqual([]);
    });
  });
});
