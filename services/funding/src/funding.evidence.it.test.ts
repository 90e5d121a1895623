// The consent's signedData (kakaoCert VerifyCMS, seed 003) is evidence for the clearing house:
// it is stored, and the account linked, only when it is a valid CMS signature by a signer whose
// certificate the configured CA issued, over exactly the consent that was requested. Each way it
// can be wrong is produced by the sandbox and must be refused with nothing stored.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createKakaocertClient, createKakaocertConsentProvider, type KakaocertClient } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type EvidenceCorruption, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { createKonaplateClient } from '@kfrm/konaplate';
import { SANDBOX_HOLDERS, sandboxClientOptions, startKonaplateSandbox, type KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { createFunding, type Funding } from './funding';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
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

describe('signedData verified before it is stored', () => {
  let database: TestDatabase;
  let konaplateSandbox: KonaplateSandbox;
  let kakaocertSandbox: KakaocertSandbox;
  let kakaocert: KakaocertClient;
  let funding: Funding;
  let nextUser = 7_000 + Math.floor(Math.random() * 1_000) * 10;
  const directory: UserDirectory = {
    async findUser(userId) {
      return userRecordFrom({ userId, userName: HOLDER.holderName, phoneNumber: '01012345678', residentId: '800101-1234567' });
    },
  };
  const db = () => database.kysely<FundingDatabase>(FUNDING_SCHEMA);

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: FUNDING_SCHEMA, migrations });
    konaplateSandbox = await startKonaplateSandbox({ port: 0 });
    kakaocertSandbox = await startKakaocertSandbox();
    const logger = createLogger({ service: 'funding-evidence-test', level: 'debug', destination: createCapturingDestination() });
    kakaocert = createKakaocertClient({
      linkId: kakaocertSandbox.linkId,
      secretKey: kakaocertSandbox.secretKey,
      serviceUrl: kakaocertSandbox.url,
      authUrl: kakaocertSandbox.authUrl,
      logger,
    });
    funding = createFunding({
      db: db(),
      konaplate: createKonaplateClient(sandboxClientOptions(konaplateSandbox, { logger })),
      consents: createKakaocertConsentProvider(kakaocert, {
        clientCode: kakaocertSandbox.clientCode,
        callCenterNum: '1600-0000',
        // The sandbox's CA: the trust anchor the signer's certificate must chain to.
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

  afterEach(() => kakaocertSandbox.clearFaults());

  async function signedConsent() {
    const userId = String(nextUser++);
    await funding.verifyAccountHolder(userId, HOLDER.bankCode, HOLDER.bankAccount);
    await registerByArs(funding, konaplateSandbox, userId, HOLDER.bankCode, HOLDER.bankAccount);
    const consent = await funding.requestAutoDebitConsent(userId, HOLDER.bankCode, HOLDER.bankAccount);
    kakaocertSandbox.sign(consent.receiptId!);
    return { userId, consent };
  }

  it('stores a valid signature over the requested consent and links the account', async () => {
    const { userId, consent } = await signedConsent();
    const confirmed = await funding.confirmAutoDebitConsent(userId, consent.id);
    expect(confirmed.consent.state).toBe('VERIFIED');
    expect(confirmed.account.state).toBe('LINKED');
    const row = await db().selectFrom('consents').selectAll().where('id', '=', consent.id).executeTakeFirstOrThrow();
    expect(row.signed_data).not.toBeNull();
    expect(row.expected_signed_content).not.toBeNull();
  });

  const corruptions: [EvidenceCorruption, string, string][] = [
    ['tampered', 'a byte of the signature changed', 'EVIDENCE_BAD_SIGNATURE'],
    ['foreign_signer', 'a signer certificate from another CA (with the same CA name)', 'EVIDENCE_UNTRUSTED_SIGNER'],
    ['other_content', 'a valid signature over another consent (another account number)', 'EVIDENCE_CONTENT_MISMATCH'],
  ];

  it.each(corruptions)(
    'refuses %s signedData (%s): CONSENT_EVIDENCE_INVALID, nothing stored, never linked',
    async (corruption, _what, failure) => {
      const { userId, consent } = await signedConsent();
      kakaocertSandbox.corruptNextEvidence(corruption);
      expect(await codeOf(funding.confirmAutoDebitConsent(userId, consent.id))).toBe('CONSENT_EVIDENCE_INVALID');

      const row = await db().selectFrom('consents').selectAll().where('id', '=', consent.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ state: 'EVIDENCE_INVALID', failure, signed_data: null, evidence_der: null, verified_at: null });
      const account = await db()
        .selectFrom('linked_accounts')
        .selectAll()
        .where('id', '=', String(consent.linkedAccountId))
        .executeTakeFirstOrThrow();
      expect(account).toMatchObject({ state: 'HOLDER_VERIFIED', linked_at: null, consent_id: null });

      // Final: asked again, the same answer without another VerifyCMS (kakaoCert answers it once).
      const verifyCalls = kakaocertSandbox.calls().verify;
      expect(await codeOf(funding.confirmAutoDebitConsent(userId, consent.id))).toBe('CONSENT_EVIDENCE_INVALID');
      expect(kakaocertSandbox.calls().verify).toBe(verifyCalls);
      expect((await funding.getAutoDebitConsent(userId, consent.id)).state).toBe('EVIDENCE_INVALID');
    },
  );
});
