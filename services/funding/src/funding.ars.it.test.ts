// ARS verification, the second linking step of seed 001 ("1. 계좌 예금주 실명 검증 2. ARS 인증"):
// holder verification → ARS → kakaoCert consent. Real PostgreSQL, the Konaplate sandbox over
// HTTP; the sandbox's member keys the code in through its test hooks.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createKakaocertClient, createKakaocertConsentProvider, type KakaocertClient } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { createKonaplateClient, type KonaplateClient } from '@kfrm/konaplate';
import { SANDBOX_HOLDERS, sandboxClientOptions, startKonaplateSandbox, type KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import { createLogger, createCapturingDestination, type Logger } from '@kfrm/logging';
import { createFunding, type Funding, type FundingDeps } from './funding';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { findKonaplateMember } from './konaplate-member.repository';
import { migrations } from './migrations';
import { userRecordFrom, type UserDirectory } from './user-directory';

const HOLDER = SANDBOX_HOLDERS[0]!; // 088 / 110234567890 / 홍길동 / 19800101

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  throw new Error('the call succeeded');
}

describe('ARS verification in the linking flow', () => {
  let database: TestDatabase;
  let konaplateSandbox: KonaplateSandbox;
  let kakaocertSandbox: KakaocertSandbox;
  let kakaocert: KakaocertClient;
  let konaplate: KonaplateClient;
  let logger: Logger;
  let deps: FundingDeps;
  let funding: Funding;
  const base = 50_000 + Math.floor(Math.random() * 1000) * 10;
  let users = 0;
  const directory: UserDirectory = {
    async findUser(userId) {
      return userRecordFrom({ userId, userName: HOLDER.holderName, phoneNumber: '010-1234-5678', residentId: '800101-1234567' });
    },
  };
  const db = () => database.kysely<FundingDatabase>(FUNDING_SCHEMA);
  /** A user whose holder check of HOLDER's account passed. */
  const verifiedUser = async () => {
    const userId = String(base + users++);
    await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    return userId;
  };
  const memberOf = async (userId: string) => (await findKonaplateMember(db(), userId))!.memberId!;
  const registrationsOf = (memberId: string) => [...konaplateSandbox.arsRegistrations.values()].filter((r) => r.userId === memberId);

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: FUNDING_SCHEMA, migrations });
    konaplateSandbox = await startKonaplateSandbox({ port: 0, arsCodeValidSeconds: 3 });
    kakaocertSandbox = await startKakaocertSandbox();
    logger = createLogger({ service: 'funding-ars-test', level: 'debug', destination: createCapturingDestination() });
    kakaocert = createKakaocertClient({
      linkId: kakaocertSandbox.linkId,
      secretKey: kakaocertSandbox.secretKey,
      serviceUrl: kakaocertSandbox.url,
      authUrl: kakaocertSandbox.authUrl,
      logger,
    });
    konaplate = createKonaplateClient(
      sandboxClientOptions(konaplateSandbox, { logger, timeoutMs: 1_000, inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 } }),
    );
    deps = {
      db: db(),
      konaplate,
      consents: createKakaocertConsentProvider(kakaocert, {
        clientCode: kakaocertSandbox.clientCode,
        callCenterNum: '1600-0000',
        trustAnchorsPem: kakaocertSandbox.caCertificatePem,
      }),
      users: directory,
      logger,
    };
    funding = createFunding(deps);
  }, 60_000);

  afterAll(async () => {
    kakaocert?.close();
    await kakaocertSandbox?.close();
    await konaplateSandbox?.close();
    await database?.close();
  });

  afterEach(() => {
    konaplateSandbox.clearFaults();
  });

  it('the consent needs ARS first: holder verification alone is not enough', async () => {
    const userId = await verifiedUser();
    expect(await codeOf(funding.requestAutoDebitConsent(userId, HOLDER.bankCode, HOLDER.bankAccount))).toBe('ARS_VERIFICATION_REQUIRED');
  });

  it('code shown → ARS call → the member keys it in → REGISTERED: the account is Konaplate’s normal account, and the consent can be asked', async () => {
    const userId = await verifiedUser();
    const started = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(started).toMatchObject({ state: 'CALLING', authCode: expect.stringMatching(/^\d{2}$/) });
    expect(started.codeExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    const memberId = await memberOf(userId);
    expect(registrationsOf(memberId)).toHaveLength(1);
    expect(registrationsOf(memberId)[0]).toMatchObject({ status: 'CALLING', calls: 1, authCode: started.authCode });

    expect((await funding.getArsVerification(userId, started.id)).verification.state).toBe('CALLING');
    konaplateSandbox.answerArsCall(registrationsOf(memberId)[0]!.regTranId, started.authCode!);
    const done = await funding.getArsVerification(userId, started.id);
    expect(done.verification.state).toBe('REGISTERED');
    expect(done.account.arsVerifiedAt).not.toBeNull();
    expect((await funding.listRegisteredAccounts(userId)).normal?.bankAccount).toBe(HOLDER.bankAccount);

    const consent = await funding.requestAutoDebitConsent(userId, HOLDER.bankCode, HOLDER.bankAccount);
    kakaocertSandbox.sign(consent.receiptId!);
    const { account: linked } = await funding.confirmAutoDebitConsent(userId, consent.id);
    expect(linked.state).toBe('LINKED');
    expect((await funding.registerAutoTopUpAccount(userId, linked.id)).autoTopUpRegisteredAt).not.toBeNull();
  });

  it('a wrong code, an unanswered call and a code that ran out end FAILED / EXPIRED; a new attempt then succeeds', async () => {
    const userId = await verifiedUser();
    const memberId = await memberOf(userId);
    const wrong = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    konaplateSandbox.answerArsCall(registrationsOf(memberId).at(-1)!.regTranId, wrong.authCode === '00' ? '01' : '00');
    expect((await funding.getArsVerification(userId, wrong.id)).verification).toMatchObject({ state: 'FAILED', failure: 'CODE_MISMATCH' });

    const unanswered = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    konaplateSandbox.failArsCall(registrationsOf(memberId).at(-1)!.regTranId, 'NO_ANSWER');
    expect((await funding.getArsVerification(userId, unanswered.id)).verification).toMatchObject({ state: 'FAILED', failure: 'NO_ANSWER' });

    const late = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    expect((await funding.getArsVerification(userId, late.id)).verification.state).toBe('EXPIRED');
    expect((await funding.listRegisteredAccounts(userId)).linked[0]!.arsVerifiedAt).toBeNull();
    expect(await codeOf(funding.requestAutoDebitConsent(userId, HOLDER.bankCode, HOLDER.bankAccount))).toBe('ARS_VERIFICATION_REQUIRED');

    const again = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    konaplateSandbox.answerArsCall(registrationsOf(memberId).at(-1)!.regTranId, again.authCode!);
    expect((await funding.getArsVerification(userId, again.id)).verification.state).toBe('REGISTERED');
  });

  it('refuses an account whose holder was not verified, and another user’s verification id reads as not found', async () => {
    const userId = await verifiedUser();
    expect(await codeOf(funding.startArsVerification(userId, '090', '3333051234567'))).toBe('ACCOUNT_HOLDER_NOT_VERIFIED');
    const started = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(await codeOf(funding.getArsVerification(String(Number(userId) + 1), started.id))).toBe('ARS_VERIFICATION_NOT_FOUND');
    expect(await codeOf(funding.getArsVerification(userId, 'not-an-id'))).toBe('ARS_VERIFICATION_NOT_FOUND');
  });

  it('lost answers: a repeated Start resumes the same attempt (same regTranId), and a lost registration answer places no second call', async () => {
    const userId = await verifiedUser();
    const memberId = await memberOf(userId);
    // Every attempt of the code request loses its answer after Konaplate processed it.
    konaplateSandbox.injectFault({ type: 'reset' }, { endpoint: 'issueArsCode', times: 3 });
    expect(await codeOf(funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount))).toBe('EXTERNAL_SERVICE_UNAVAILABLE');
    const [pending] = await db().selectFrom('ars_verifications').selectAll().where('user_id', '=', userId).execute();
    expect(pending!.state).toBe('ISSUING');
    expect(registrationsOf(memberId)).toHaveLength(1);

    // The user presses Start again; this time the registration request's answers are lost (after the call was placed).
    konaplateSandbox.injectFault({ type: 'reset' }, { endpoint: 'registerBankAccount', times: 3 });
    const resumed = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(resumed.id).toBe(pending!.id);
    expect(resumed.state).toBe('CODE_ISSUED');
    expect(resumed.authCode).toBe(registrationsOf(memberId)[0]!.authCode);
    const calling = await funding.getArsVerification(userId, pending!.id);
    expect(calling.verification.state).toBe('CALLING');
    // Pressed once more while the phone rings: the same attempt, no new call.
    expect((await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount)).id).toBe(pending!.id);
    // Still one registration at Konaplate, with one ARS call, whatever was sent again.
    expect(registrationsOf(memberId)).toHaveLength(1);
    expect(registrationsOf(memberId)[0]!.calls).toBe(1);
  });

  it('duplicate and out-of-order answers: concurrent polls register once; a late CALLING or FAILED answer never undoes REGISTERED', async () => {
    const userId = await verifiedUser();
    const memberId = await memberOf(userId);
    const started = await funding.startArsVerification(userId, HOLDER.bankCode, HOLDER.bankAccount);
    const lagging = (stale: { status: 'CODE_ISSUED' } | { status: 'CALLING' } | { status: 'FAILED'; failReason: 'NO_ANSWER' }) =>
      createFunding({
        ...deps,
        konaplate: { ...konaplate, inquireAccountRegistration: async () => ({ ...stale, correlationId: '000000000000-0000000' }) },
      });
    // An answer older than what we know (code issued, while the phone already rings): no step back.
    expect((await lagging({ status: 'CODE_ISSUED' }).getArsVerification(userId, started.id)).verification.state).toBe('CALLING');
    konaplateSandbox.answerArsCall(registrationsOf(memberId)[0]!.regTranId, started.authCode!);
    const polls = await Promise.all([1, 2, 3, 4].map(() => funding.getArsVerification(userId, started.id)));
    expect(polls.map((p) => p.verification.state)).toEqual(['REGISTERED', 'REGISTERED', 'REGISTERED', 'REGISTERED']);
    const registeredAt = polls[0]!.account.arsVerifiedAt!;
    expect(polls.every((p) => p.account.arsVerifiedAt?.getTime() === registeredAt.getTime())).toBe(true);

    // A slow replica answering what it knew before: the stored outcome stands.
    for (const stale of [{ status: 'CALLING' as const }, { status: 'FAILED' as const, failReason: 'NO_ANSWER' as const }]) {
      expect((await lagging(stale).getArsVerification(userId, started.id)).verification.state).toBe('REGISTERED');
    }
    expect((await funding.listRegisteredAccounts(userId)).linked[0]!.arsVerifiedAt).toEqual(registeredAt);
  });
});
