// The funding use cases against the real Konaplate and kakaoCert clients talking over HTTP to
// their local sandboxes, with the service's own tables in a real database.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createKakaocertClient, createKakaocertConsentProvider, type KakaocertClient } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { checkConsentEvidence, consentSignedContent, parseTrustAnchors } from '@kfrm/kakaocert';
import { manualClock } from '@kfrm/kakaocert/testing/cms.fixtures';
import { createKonaplateClient } from '@kfrm/konaplate';
import {
  SANDBOX_HOLDERS,
  sandboxClientOptions,
  startKonaplateSandbox,
  type KonaplateSandbox,
  type SandboxHolder,
} from '@kfrm/konaplate/sandbox/index';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { DomainError } from '@kfrm/errors';
import { createFunding, type Funding } from './funding';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { findKonaplateMember } from './konaplate-member.repository';
import { migrations } from './migrations';
import { registerByArs } from './ars-verification.fixtures';
import { userRecordFrom, type UserDirectory } from './user-directory';

/** Users as the user service would answer them (resident ids give the birth dates). */
const USERS: Record<string, { userName: string; phoneNumber: string; residentId: string }> = {
  // Konaplate sandbox member with a normal top-up account 088/110234567890 (홍길동, 19800101).
  '1000000001': { userName: '홍길동', phoneNumber: '010-1234-5678', residentId: '800101-1234567' },
  // Member with normal and auto account 090/3333051234567 (김하나, 19920315).
  '1000000002': { userName: '김하나', phoneNumber: '01098765432', residentId: '920315-2234567' },
  // Someone else's name on 홍길동's account.
  '1000000003': { userName: '김철수', phoneNumber: '01011112222', residentId: '800101-1234567' },
  // 홍길동's name with another birth date.
  '1000000004': { userName: '홍길동', phoneNumber: '01033334444', residentId: '800102-1234567' },
  // No usable resident id.
  '1000000005': { userName: '박영희', phoneNumber: '01055556666', residentId: '' },
};

const users: UserDirectory = {
  async findUser(userId) {
    const user = USERS[userId];
    if (!user) throw new DomainError('USER_NOT_FOUND', 'The user was not found.');
    return userRecordFrom({ userId, ...user });
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

describe('funding use cases against the sandboxes', () => {
  let database: TestDatabase;
  let konaplateSandbox: KonaplateSandbox;
  let kakaocertSandbox: KakaocertSandbox;
  let kakaocert: KakaocertClient;
  let funding: Funding;
  const clock = manualClock(Date.now());
  const logs = createCapturingDestination();

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: FUNDING_SCHEMA, migrations });
    konaplateSandbox = await startKonaplateSandbox({ port: 0 });
    // A holder for an account that is not 홍길동's normal top-up account at Konaplate.
    konaplateSandbox.addHolder({ bankCode: '004', bankAccount: '11112222333', holderName: '홍길동', birthDate: '19800101' });
    kakaocertSandbox = await startKakaocertSandbox({ clock: clock.now });
    const logger = createLogger({ service: 'funding-test', level: 'debug', destination: logs });
    kakaocert = createKakaocertClient({
      linkId: kakaocertSandbox.linkId,
      secretKey: kakaocertSandbox.secretKey,
      serviceUrl: kakaocertSandbox.url,
      authUrl: kakaocertSandbox.authUrl,
      now: clock.now,
      // Short, so the "answer held back" fault below makes the outcome unknown quickly.
      timeouts: { verifyMs: 500 },
      logger,
    });
    funding = createFunding({
      db: database.kysely<FundingDatabase>(FUNDING_SCHEMA),
      konaplate: createKonaplateClient(sandboxClientOptions(konaplateSandbox, { logger, inquiryRetry: { baseDelayMs: 10 } })),
      consents: createKakaocertConsentProvider(kakaocert, {
        clientCode: kakaocertSandbox.clientCode,
        callCenterNum: '1600-0000',
        trustAnchorsPem: kakaocertSandbox.caCertificatePem,
      }),
      users,
      logger,
      now: () => new Date(clock.now()),
      verifyingStaleAfterMs: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    kakaocert?.close();
    await kakaocertSandbox?.close();
    await konaplateSandbox?.close();
    await database?.close();
  });

  beforeEach(() => {
    kakaocertSandbox.clearFaults();
    konaplateSandbox.clearFaults();
  });

  afterEach(async () => {
    // Each test starts with no linked accounts or consents.
    const db = database.kysely<FundingDatabase>(FUNDING_SCHEMA);
    await db.deleteFrom('consents').execute();
    await db.deleteFrom('ars_verifications').execute();
    await db.deleteFrom('linked_accounts').execute();
  });

  const HONG = '1000000001';
  const HONG_ACCOUNT = { bankCode: '088', accountNumber: '110234567890' };

  /**
   * ARS authentication (not modelled) makes a holder-verified account the member's top-up
   * account at Konaplate; the sandbox's control stands in for it, under the member id Konaplate
   * issued to the user (never the KFRM user id).
   */
  async function arsRegistered(userId: string, accounts: { normal?: SandboxHolder; auto?: SandboxHolder }) {
    const member = await findKonaplateMember(database.kysely<FundingDatabase>(FUNDING_SCHEMA), userId);
    konaplateSandbox.setRegisteredAccounts(member!.memberId!, accounts);
  }

  async function verifiedHong() {
    return funding.verifyAccountHolder(HONG, HONG_ACCOUNT.bankCode, HONG_ACCOUNT.accountNumber);
  }

  /** Holder verified, then registered at Konaplate by ARS: what the consent needs. */
  async function registeredHong() {
    await verifiedHong();
    await registerByArs(funding, konaplateSandbox, HONG, HONG_ACCOUNT.bankCode, HONG_ACCOUNT.accountNumber);
  }

  async function signedConsent() {
    await registeredHong();
    const consent = await funding.requestAutoDebitConsent(HONG, HONG_ACCOUNT.bankCode, HONG_ACCOUNT.accountNumber);
    kakaocertSandbox.sign(consent.receiptId!);
    return consent;
  }

  describe('account holder verification', () => {
    it('records the account as holder-verified with the name and birth date of the user record', async () => {
      const account = await verifiedHong();
      expect(account).toMatchObject({ userId: HONG, bankCode: '088', bankName: '신한은행', state: 'HOLDER_VERIFIED', linkedAt: null });
      // Verifying again keeps one row.
      const again = await verifiedHong();
      expect(again.id).toBe(account.id);
    });

    it('maps every refusal to a funding code and stores nothing', async () => {
      expect(await codeOf(funding.verifyAccountHolder('1000000003', '088', '110234567890'))).toBe('ACCOUNT_HOLDER_MISMATCH'); // 002_003
      expect(await codeOf(funding.verifyAccountHolder('1000000004', '088', '110234567890'))).toBe('ACCOUNT_HOLDER_MISMATCH'); // 002_005
      expect(await codeOf(funding.verifyAccountHolder(HONG, '088', '12345678901234567'))).toBe('INVALID_BANK_ACCOUNT'); // 002_001
      expect(await codeOf(funding.verifyAccountHolder(HONG, '088', '12-34'))).toBe('INVALID_BANK_ACCOUNT'); // never sent
      expect(await codeOf(funding.verifyAccountHolder(HONG, '088', '1234567890'))).toBe('BANK_ACCOUNT_NOT_FOUND'); // 002_007
      expect(await codeOf(funding.verifyAccountHolder(HONG, '088', '9000000008'))).toBe('BANK_ACCOUNT_NOT_USABLE'); // 002_008
      expect(await codeOf(funding.verifyAccountHolder(HONG, '088', '9000000006'))).toBe('BANK_UNAVAILABLE'); // 002_006
      expect(await codeOf(funding.verifyAccountHolder(HONG, '999', '110234567890'))).toBe('BANK_NOT_SUPPORTED'); // 002_012
      expect(await codeOf(funding.verifyAccountHolder('1000000005', '088', '110234567890'))).toBe('USER_PROFILE_INCOMPLETE');
      expect(await codeOf(funding.verifyAccountHolder('1999999999', '088', '110234567890'))).toBe('USER_NOT_FOUND');
      expect((await funding.listRegisteredAccounts(HONG)).linked).toEqual([]);
    });

    it('reports a lost answer as OUTCOME_UNKNOWN without storing the account or sending it twice', async () => {
      const before = konaplateSandbox.requests.length;
      konaplateSandbox.injectFault({ type: 'reset' }, { endpoint: 'verifyAccountHolder' });
      expect(await codeOf(verifiedHong())).toBe('OUTCOME_UNKNOWN');
      expect(konaplateSandbox.requests.length - before).toBe(1);
      expect((await funding.listRegisteredAccounts(HONG)).linked).toEqual([]);
    });
  });

  it('lists the accounts registered at Konaplate and the linked ones', async () => {
    await verifiedHong();
    await arsRegistered(HONG, { normal: SANDBOX_HOLDERS[0]! });
    const listed = await funding.listRegisteredAccounts(HONG);
    expect(listed.normal).toEqual({ bankCode: '088', bankAccount: '110234567890', bankName: expect.any(String) });
    expect(listed.auto).toBeUndefined();
    expect(listed.autoRegistrationAllowed).toBe(true);
    expect(listed.linked.map((a) => a.accountNumber)).toEqual(['110234567890']);
    konaplateSandbox.injectFault({ type: 'result', code: '002_006' }, { endpoint: 'inquireBankAccounts' });
    expect(await codeOf(funding.listRegisteredAccounts(HONG))).toBe('BANK_UNAVAILABLE');
  });

  describe('auto-debit consent', () => {
    it('requests, is signed in the sandbox, confirms once and links the account with DER evidence', async () => {
      const verifyCalls = kakaocertSandbox.calls().verify;
      await registeredHong();
      const requested = await funding.requestAutoDebitConsent(HONG, '088', '110234567890');
      expect(requested).toMatchObject({ state: 'REQUESTED', userId: HONG, provider: 'kakaocert' });
      expect(requested.expiresAt!.getTime()).toBe(clock.now() + 300_000);
      // What kakaoCert received came from the user's record.
      expect(JSON.parse(kakaocertSandbox.lastRequestBody()!)).toMatchObject({
        ReceiverName: '홍길동',
        ReceiverHP: '01012345678',
        ReceiverBirthDay: '19800101',
        BankCode: '088',
        BankAccountNum: '110234567890',
        ClientUserID: HONG,
        PayLoad: requested.id,
      });

      expect((await funding.getAutoDebitConsent(HONG, requested.id)).state).toBe('REQUESTED');
      clock.advance(3_000);
      kakaocertSandbox.sign(requested.receiptId!);
      const signed = await funding.getAutoDebitConsent(HONG, requested.id);
      expect(signed.state).toBe('SIGNED');
      // kakaoCert's times have whole seconds.
      expect(signed.signedAt?.getTime()).toBe(Math.floor(clock.now() / 1000) * 1000);

      const confirmed = await funding.confirmAutoDebitConsent(HONG, requested.id);
      expect(confirmed.consent.state).toBe('VERIFIED');
      expect(confirmed.account).toMatchObject({ state: 'LINKED', consentId: requested.id });
      // signedData base64url-decoded is the DER file for KFTC: a CMS signature by the sandbox
      // CA's signer over exactly the consent that was requested.
      const stored = await database
        .kysely<FundingDatabase>(FUNDING_SCHEMA)
        .selectFrom('consents')
        .select('signed_data')
        .where('id', '=', requested.id)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(stored.signed_data!, 'base64url')).toEqual(Buffer.from(confirmed.consent.evidenceDer!));
      const expected = consentSignedContent(kakaocertSandbox.clientCode, JSON.parse(kakaocertSandbox.lastRequestBody()!));
      const check = await checkConsentEvidence({
        signedData: stored.signed_data!,
        expectedContent: expected,
        trustAnchors: parseTrustAnchors(kakaocertSandbox.caCertificatePem),
      });
      expect(check.ok).toBe(true);

      // A second confirm answers the same without calling VerifyCMS again.
      const again = await funding.confirmAutoDebitConsent(HONG, requested.id);
      expect(again.consent.state).toBe('VERIFIED');
      expect(again.account.id).toBe(confirmed.account.id);
      expect(kakaocertSandbox.calls().verify - verifyCalls).toBe(1);
      expect((await funding.getAutoDebitConsent(HONG, requested.id)).state).toBe('VERIFIED');
    });

    it('refuses to confirm before the user signed, without calling VerifyCMS', async () => {
      const verifyCalls = kakaocertSandbox.calls().verify;
      await registeredHong();
      const consent = await funding.requestAutoDebitConsent(HONG, '088', '110234567890');
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_NOT_SIGNED');
      expect(kakaocertSandbox.calls().verify).toBe(verifyCalls);
      const accounts = (await funding.listRegisteredAccounts(HONG)).linked;
      expect(accounts[0]!.state).toBe('HOLDER_VERIFIED');
    });

    it('expires a consent not signed in time', async () => {
      await registeredHong();
      const consent = await funding.requestAutoDebitConsent(HONG, '088', '110234567890', 10);
      clock.advance(10_000);
      expect((await funding.getAutoDebitConsent(HONG, consent.id)).state).toBe('EXPIRED');
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_EXPIRED');
    });

    it('needs a holder-verified account, and keeps consents to their user', async () => {
      expect(await codeOf(funding.requestAutoDebitConsent(HONG, '088', '110234567890'))).toBe('ACCOUNT_HOLDER_NOT_VERIFIED');
      const consent = await signedConsent();
      expect(await codeOf(funding.getAutoDebitConsent('1000000002', consent.id))).toBe('CONSENT_NOT_FOUND');
      expect(await codeOf(funding.confirmAutoDebitConsent('1000000002', consent.id))).toBe('CONSENT_NOT_FOUND');
    });

    it('marks a refused or failed request REQUEST_FAILED', async () => {
      await registeredHong();
      // kakaoCert refuses the request (here: a SubClientID it does not know).
      const refusing = createFunding({
        db: database.kysely<FundingDatabase>(FUNDING_SCHEMA),
        konaplate: createKonaplateClient(sandboxClientOptions(konaplateSandbox)),
        consents: createKakaocertConsentProvider(kakaocert, {
          clientCode: kakaocertSandbox.clientCode,
          callCenterNum: '1600-0000',
          trustAnchorsPem: kakaocertSandbox.caCertificatePem,
          subClientId: 'UNKNOWN00001',
        }),
        users,
        logger: createLogger({ service: 'funding-test', level: 'silent' }),
        now: () => new Date(clock.now()),
      });
      expect(await codeOf(refusing.requestAutoDebitConsent(HONG, '088', '110234567890'))).toBe('CONSENT_REQUEST_REFUSED');
      kakaocertSandbox.injectFault({ route: 'request', kind: 'http500' });
      expect(await codeOf(funding.requestAutoDebitConsent(HONG, '088', '110234567890'))).toBe('EXTERNAL_SERVICE_UNAVAILABLE');
      const rows = await database
        .kysely<FundingDatabase>(FUNDING_SCHEMA)
        .selectFrom('consents')
        .select(['state', 'failure'])
        .orderBy('created_at')
        .execute();
      expect(rows).toEqual([
        { state: 'REQUEST_FAILED', failure: 'CONSENT_REQUEST_REFUSED' },
        { state: 'REQUEST_FAILED', failure: 'EXTERNAL_SERVICE_UNAVAILABLE' },
      ]);
      // A request whose answer was lost cannot be reconciled (no receipt id): REQUEST_FAILED too.
      kakaocertSandbox.injectFault({ route: 'request', kind: 'reset', phase: 'after' });
      expect(await codeOf(funding.requestAutoDebitConsent(HONG, '088', '110234567890'))).toBe('OUTCOME_UNKNOWN');
    });

    it('puts a consent whose VerifyCMS was refused back to SIGNED after asking GetCMSState', async () => {
      const consent = await signedConsent();
      const verifyCalls = kakaocertSandbox.calls().verify;
      // A definite error before kakaoCert processed the call.
      kakaocertSandbox.injectFault({ route: 'verify', kind: 'http500', phase: 'before' });
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('EXTERNAL_SERVICE_FAILED');
      const db = database.kysely<FundingDatabase>(FUNDING_SCHEMA);
      expect((await db.selectFrom('consents').select('state').executeTakeFirstOrThrow()).state).toBe('SIGNED');
      expect((await funding.confirmAutoDebitConsent(HONG, consent.id)).consent.state).toBe('VERIFIED');
      expect(kakaocertSandbox.calls().verify - verifyCalls).toBe(2);
    });

    it('reports EVIDENCE_LOST when kakaoCert processed VerifyCMS and then answered with an error', async () => {
      const consent = await signedConsent();
      kakaocertSandbox.injectFault({ route: 'verify', kind: 'http500', phase: 'after' });
      // Any error answer from VerifyCMS is checked with GetCMSState at once: verified there.
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_EVIDENCE_LOST');
      // And stays so, without another VerifyCMS.
      const verifyCalls = kakaocertSandbox.calls().verify;
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_EVIDENCE_LOST');
      expect(kakaocertSandbox.calls().verify).toBe(verifyCalls);
      expect((await funding.listRegisteredAccounts(HONG)).linked[0]!.state).toBe('HOLDER_VERIFIED');
    });

    it('makes a lost VerifyCMS answer VERIFY_UNKNOWN, and reconciliation finds the evidence was handed out', async () => {
      const consent = await signedConsent();
      const verifyCalls = kakaocertSandbox.calls().verify;
      // kakaoCert processes VerifyCMS, then the answer is held back past the client's deadline.
      kakaocertSandbox.injectFault({ route: 'verify', kind: 'delay', phase: 'after', delayMs: 3_000 });
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('OUTCOME_UNKNOWN');
      expect((await funding.listRegisteredAccounts(HONG)).linked[0]!.state).toBe('HOLDER_VERIFIED');
      const db = database.kysely<FundingDatabase>(FUNDING_SCHEMA);
      expect((await db.selectFrom('consents').select('state').executeTakeFirstOrThrow()).state).toBe('VERIFY_UNKNOWN');

      // The next call asks GetCMSState first: verified there, so VerifyCMS is not called again.
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_EVIDENCE_LOST');
      expect(kakaocertSandbox.calls().verify - verifyCalls).toBe(1);
      expect((await funding.getAutoDebitConsent(HONG, consent.id)).state).toBe('EVIDENCE_LOST');
      expect((await funding.listRegisteredAccounts(HONG)).linked[0]!.state).toBe('HOLDER_VERIFIED');
    });

    it('makes a VerifyCMS that never ran VERIFY_UNKNOWN, and reconciliation verifies it once', async () => {
      const consent = await signedConsent();
      const verifyCalls = kakaocertSandbox.calls().verify;
      // The connection drops before kakaoCert processes the call.
      kakaocertSandbox.injectFault({ route: 'verify', kind: 'reset', phase: 'before' });
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('OUTCOME_UNKNOWN');
      const db = database.kysely<FundingDatabase>(FUNDING_SCHEMA);
      expect((await db.selectFrom('consents').select('state').executeTakeFirstOrThrow()).state).toBe('VERIFY_UNKNOWN');
      // Polling reconciles: GetCMSState shows it signed and never verified, so it is SIGNED again.
      expect((await funding.getAutoDebitConsent(HONG, consent.id)).state).toBe('SIGNED');

      const confirmed = await funding.confirmAutoDebitConsent(HONG, consent.id);
      expect(confirmed.consent.state).toBe('VERIFIED');
      expect(confirmed.account.state).toBe('LINKED');
      expect(kakaocertSandbox.calls().verify - verifyCalls).toBe(2);
    });

    it('resumes after a crash in the middle of verification (a stale VERIFYING row)', async () => {
      const consent = await signedConsent();
      const db = database.kysely<FundingDatabase>(FUNDING_SCHEMA);
      // As a process killed right after claiming the consent leaves it.
      await db
        .updateTable('consents')
        .set({ state: 'VERIFYING', verify_started_at: new Date(clock.now()), updated_at: new Date(clock.now()) })
        .where('id', '=', consent.id)
        .execute();
      expect(await codeOf(funding.confirmAutoDebitConsent(HONG, consent.id))).toBe('CONSENT_VERIFICATION_IN_PROGRESS');
      clock.advance(31_000);
      const confirmed = await funding.confirmAutoDebitConsent(HONG, consent.id);
      expect(confirmed.consent.state).toBe('VERIFIED');
    });

    it('lets only one of two concurrent confirms call VerifyCMS', async () => {
      const consent = await signedConsent();
      const verifyCalls = kakaocertSandbox.calls().verify;
      const results = await Promise.allSettled([
        funding.confirmAutoDebitConsent(HONG, consent.id),
        funding.confirmAutoDebitConsent(HONG, consent.id),
      ]);
      expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as DomainError).code).toBe('CONSENT_VERIFICATION_IN_PROGRESS');
      }
      expect(kakaocertSandbox.calls().verify - verifyCalls).toBe(1);
    });
  });

  describe('automatic top-up registration', () => {
    async function linked(userId: string, bankCode: string, accountNumber: string) {
      await funding.verifyAccountHolder(userId, bankCode, accountNumber);
      await registerByArs(funding, konaplateSandbox, userId, bankCode, accountNumber);
      const consent = await funding.requestAutoDebitConsent(userId, bankCode, accountNumber);
      kakaocertSandbox.sign(consent.receiptId!);
      return (await funding.confirmAutoDebitConsent(userId, consent.id)).account;
    }

    it('registers the linked normal top-up account, idempotently', async () => {
      const account = await linked(HONG, '088', '110234567890');
      await arsRegistered(HONG, { normal: SANDBOX_HOLDERS[0]! });
      const registered = await funding.registerAutoTopUpAccount(HONG, account.id);
      expect(registered.autoTopUpRegisteredAt).not.toBeNull();
      const again = await funding.registerAutoTopUpAccount(HONG, account.id);
      expect(again.autoTopUpRegisteredAt).toEqual(registered.autoTopUpRegisteredAt);
    });

    it('accepts the account Konaplate already has for automatic top-up', async () => {
      const account = await linked('1000000002', '090', '3333051234567');
      await arsRegistered('1000000002', { normal: SANDBOX_HOLDERS[1]!, auto: SANDBOX_HOLDERS[1]! });
      expect((await funding.registerAutoTopUpAccount('1000000002', account.id)).autoTopUpRegisteredAt).not.toBeNull();
    });

    it("refuses an account that is not linked, not the normal one, or not the caller's", async () => {
      const verified = await verifiedHong();
      expect(await codeOf(funding.registerAutoTopUpAccount(HONG, verified.id))).toBe('ACCOUNT_NOT_LINKED');
      const other = await linked(HONG, '004', '11112222333');
      await arsRegistered(HONG, { normal: SANDBOX_HOLDERS[0]! });
      expect(await codeOf(funding.registerAutoTopUpAccount(HONG, other.id))).toBe('AUTO_TOP_UP_NOT_ALLOWED');
      expect(await codeOf(funding.registerAutoTopUpAccount('1000000002', other.id))).toBe('LINKED_ACCOUNT_NOT_FOUND');
    });
  });

  it('never logs a full account number, a name, a phone number or signedData', async () => {
    const text = logs.text();
    expect(text).toContain('consent verified; account linked');
    expect(text).not.toContain('110234567890');
    expect(text).not.toContain('3333051234567');
    expect(text).not.toContain('홍길동');
    expect(text).not.toContain('01012345678');
  });
});
