// Konaplate's `userId` is the member id Konaplate issues at registration (seeds 001/002), not the
// KFRM user id. Here the KFRM user ids are ones Konaplate never issued, as in production: the
// sandbox refuses them (002_005), so the only way through is to register the member and send
// the id it was given.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createKakaocertClient, createKakaocertConsentProvider, type KakaocertClient } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { createKonaplateClient } from '@kfrm/konaplate';
import { SANDBOX_HOLDERS, sandboxClientOptions, startKonaplateSandbox, type KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import { createLogger, createCapturingDestination } from '@kfrm/logging';
import { createFunding, type Funding } from './funding';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { findKonaplateMember } from './konaplate-member.repository';
import { migrations } from './migrations';
import { registerByArs } from './ars-verification.fixtures';
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

describe('Konaplate member id (userId) of a KFRM user', () => {
  let database: TestDatabase;
  let konaplateSandbox: KonaplateSandbox;
  let kakaocertSandbox: KakaocertSandbox;
  let kakaocert: KakaocertClient;
  let funding: Funding;
  // KFRM user ids Konaplate never issued (its sandbox issues 2000000001 and up).
  const base = 40 + Math.floor(Math.random() * 1000) * 10;
  const users = new Map<string, { userName: string; phoneNumber: string; residentId: string }>();
  const newUser = () => {
    const userId = String(base + users.size);
    users.set(userId, { userName: HOLDER.holderName, phoneNumber: '010-1234-5678', residentId: '800101-1234567' });
    return userId;
  };
  const directory: UserDirectory = {
    async findUser(userId) {
      const user = users.get(userId);
      if (!user) throw new DomainError('USER_NOT_FOUND', 'The user was not found.');
      return userRecordFrom({ userId, ...user });
    },
  };
  const db = () => database.kysely<FundingDatabase>(FUNDING_SCHEMA);

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: FUNDING_SCHEMA, migrations });
    konaplateSandbox = await startKonaplateSandbox({ port: 0 });
    kakaocertSandbox = await startKakaocertSandbox();
    const logger = createLogger({ service: 'funding-member-test', level: 'debug', destination: createCapturingDestination() });
    kakaocert = createKakaocertClient({
      linkId: kakaocertSandbox.linkId,
      secretKey: kakaocertSandbox.secretKey,
      serviceUrl: kakaocertSandbox.url,
      authUrl: kakaocertSandbox.authUrl,
      logger,
    });
    funding = createFunding({
      db: db(),
      konaplate: createKonaplateClient(
        sandboxClientOptions(konaplateSandbox, { logger, timeoutMs: 1_000, inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 } }),
      ),
      consents: createKakaocertConsentProvider(kakaocert, {
        clientCode: kakaocertSandbox.clientCode,
        callCenterNum: '1600-0000',
        trustAnchorsPem: kakaocertSandbox.caCertificatePem,
      }),
      users: directory,
      logger,
    });
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

  it('holder verification registers the member once and sends the issued id, never the KFRM user id', async () => {
    const userId = newUser();
    expect(konaplateSandbox.hasMember(userId)).toBe(false);
    const account = await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(account.state).toBe('HOLDER_VERIFIED');

    const member = await findKonaplateMember(db(), userId);
    expect(member?.memberId).toMatch(/^\d+$/);
    expect(member!.memberId).not.toBe(userId);
    expect(konaplateSandbox.hasMember(member!.memberId!)).toBe(true);

    const registrations = konaplateSandbox.requests.filter((r) => r.endpoint === 'registerMember').length;
    await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(konaplateSandbox.requests.filter((r) => r.endpoint === 'registerMember').length).toBe(registrations);
    expect((await findKonaplateMember(db(), userId))!.memberId).toBe(member!.memberId);
  });

  it('a registration whose answer was lost is sent again with the same loginId: still one member', async () => {
    const userId = newUser();
    const before = konaplateSandbox.registeredMembers.size;
    // Every attempt of the first call loses its answer after the sandbox processed it.
    konaplateSandbox.injectFault({ type: 'reset' }, { endpoint: 'registerMember', times: 3 });
    expect(await codeOf(funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount))).toBe('EXTERNAL_SERVICE_UNAVAILABLE');
    const pending = await findKonaplateMember(db(), userId);
    expect(pending).toMatchObject({ memberId: null });
    expect(konaplateSandbox.registeredMembers.size).toBe(before + 1);

    // A timeout, then the retry: the same loginId answers the member already issued.
    konaplateSandbox.injectFault({ type: 'delay', ms: 3_000 }, { endpoint: 'registerMember' });
    await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    expect(konaplateSandbox.registeredMembers.size).toBe(before + 1);
    const member = await findKonaplateMember(db(), userId);
    expect(member?.loginId).toBe(pending!.loginId);
    expect(member?.memberId).toBe(konaplateSandbox.registeredMembers.get(pending!.loginId)!.userId);
  });

  it('lists nothing at Konaplate for a user who is not a member yet, without asking Konaplate', async () => {
    const userId = newUser();
    const before = konaplateSandbox.requests.length;
    expect(await funding.listRegisteredAccounts(userId)).toEqual({ autoRegistrationAllowed: false, linked: [] });
    expect(konaplateSandbox.requests.length).toBe(before);
  });

  it('links an account and registers it for automatic top-up, the inquiry asked with the member id', async () => {
    const userId = newUser();
    await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    // ARS registration is what makes the verified account the member's normal top-up account at Konaplate.
    await registerByArs(funding, konaplateSandbox, userId, HOLDER.bankCode, HOLDER.bankAccount);

    const consent = await funding.requestAutoDebitConsent(userId, HOLDER.bankCode, HOLDER.bankAccount);
    kakaocertSandbox.sign(consent.receiptId!);
    const { account } = await funding.confirmAutoDebitConsent(userId, consent.id);
    expect(account.state).toBe('LINKED');

    const listed = await funding.listRegisteredAccounts(userId);
    expect(listed).toMatchObject({ normal: { bankAccount: HOLDER.bankAccount }, autoRegistrationAllowed: true });
    const registered = await funding.registerAutoTopUpAccount(userId, account.id);
    expect(registered.autoTopUpRegisteredAt).not.toBeNull();
  });
});
