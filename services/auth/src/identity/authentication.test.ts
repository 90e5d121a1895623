// The factor check as a use case, on a real database and a store that can be made to fail, with
// the user service replaced by a recording stand-in: what is persisted when the store fails.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAttemptLimiter, createSecretHasher } from '@kfrm/credentials';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createKeySession, createKeySessions, encryptForSession, parseKeyEncryptionKey } from '@kfrm/e2e-crypto';
import { DomainError } from '@kfrm/errors';
import { createLogger } from '@kfrm/logging';
import { createSigningCa } from '@kfrm/pki';
import {
  AuthenticatedTransactionType,
  Authentication_AuthenticationStatus,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  type EncryptedMessage,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { createMemoryStore, StoreUnavailableError, type Store } from '@kfrm/store';
import type { Kysely } from 'kysely';
import { migrations } from '../migrations';
import { createAuthentication, type Caller } from './authentication';
import { biometricChallenge } from './biometric-key';
import { DEFAULT_IDENTITY_SETTINGS, type IdentityDeps } from './identity-deps';
import { createSandboxIdentityVerifier } from './identity-verifier';
import type { IdentityDatabase } from './identity.table';
import { SigningCertificateMemo } from './signing-certificate-memo';
import type { UserDirectory } from './user-directory';

const MAX = 3;
const PIN = '582916';

/** A memory store whose calls fail (as an unreachable Redis does) while `failing(method, key)` says so. */
function flakyStore(failing: { when: (method: string, key: string) => boolean }): Store {
  const inner = createMemoryStore();
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (failing.when(String(prop), String(args[0] ?? ''))) return Promise.reject(new StoreUnavailableError('store down'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('authentication use case', () => {
  let database: TestDatabase;
  let db: Kysely<IdentityDatabase>;
  const failing = { when: (_method: string, _key: string) => false };
  const completed: AuthenticationType[] = [];
  const revisions: Array<string | undefined> = [];
  const statusChanges: UserStatus[] = [];
  let deps: IdentityDeps;
  let encrypt: (text: string) => Promise<EncryptedMessage>;
  const userId = 42n;
  const caller: Caller = { kind: 'session', userId, deviceId: 7n };
  /** The running process the user service stand-in answers: a transfer asking for PIN or BIO unless a test says otherwise. */
  const running = { transactionType: AuthenticatedTransactionType.TRANSFER };

  const users = {
    async getRunningProcess(processId: string) {
      return {
        transactionType: running.transactionType,
        process: {
          processId,
          status: AuthenticationProcess_ProcessStatus.READY,
          authentications: [
            { type: AuthenticationType.PIN, fallback: AuthenticationType.NONE, status: Authentication_AuthenticationStatus.READY },
            { type: AuthenticationType.BIO, fallback: AuthenticationType.PIN, status: Authentication_AuthenticationStatus.READY },
          ],
        },
        revision: `revision-of-${processId}`,
      };
    },
    async completeAuthentication(processId: string, _user: bigint, type: AuthenticationType, revision?: string) {
      completed.push(type);
      revisions.push(revision);
      return { processId, status: AuthenticationProcess_ProcessStatus.DONE, authentications: [] };
    },
    async updateUserStatus(_user: bigint, _expected: UserStatus, next: UserStatus) {
      statusChanges.push(next);
    },
  } as unknown as UserDirectory;

  beforeAll(async () => {
    database = await openTestDatabase();
    await migrateSchema(database, { schema: 'auth', migrations });
    db = database.kysely<IdentityDatabase>('auth');
    const store = flakyStore(failing);
    const e2e = createKeySessions(createMemoryStore(), parseKeyEncryptionKey(randomBytes(32)));
    const session = await createKeySession(e2e, 'AUTH');
    encrypt = async (text) => (await encryptForSession(session.publicKeySpkiBase64, session.sessionId, 'AUTH', text)).encryptedMessage;
    const hasher = createSecretHasher({ pepper: randomBytes(32) });
    deps = {
      db,
      store,
      users,
      e2e,
      hasher,
      limiters: {
        pin: createAttemptLimiter(store, { kind: 'pin', maxAttempts: MAX }),
        pattern: createAttemptLimiter(store, { kind: 'pattern', maxAttempts: MAX }),
      },
      offDeviceLimiters: {
        pin: createAttemptLimiter(store, { kind: 'pin-off-device', maxAttempts: MAX }),
        pattern: createAttemptLimiter(store, { kind: 'pattern-off-device', maxAttempts: MAX }),
      },
      signingCa: await createSigningCa(),
      signingCertificates: new SigningCertificateMemo(),
      verifier: createSandboxIdentityVerifier(),
      logger: createLogger({ service: 'test', level: 'silent' }),
      settings: { ...DEFAULT_IDENTITY_SETTINGS, maxSecretAttempts: MAX, secretChecksPerDeviceWindow: 1_000 },
      now: () => new Date(),
    };
    await db
      .insertInto('secret_credentials')
      .values({ user_id: userId, kind: 'pin', hash: await hasher.hashSecret(PIN), updated_at: new Date() })
      .execute();
  }, 60_000);

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(() => {
    running.transactionType = AuthenticatedTransactionType.TRANSFER;
    failing.when = () => false;
    completed.length = 0;
    revisions.length = 0;
    statusChanges.length = 0;
  });

  const row = () =>
    db
      .selectFrom('secret_credentials')
      .select(['failures', 'locked'])
      .where('user_id', '=', String(userId))
      .where('kind', '=', 'pin')
      .executeTakeFirstOrThrow();
  const attempt = async (pin: string) =>
    createAuthentication(deps).authenticate(caller, 'process-1', { type: 'PIN', secret: await encrypt(pin) });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'OK',
      (e: unknown) => (e instanceof DomainError ? e.code : (e as Error).name),
    );

  it('completes the step with the right PIN and clears earlier failures', async () => {
    expect(await code(attempt('582917'))).toBe('AUTHENTICATION_FAILED');
    expect((await row()).failures).toBe(1);
    expect(await code(attempt(PIN))).toBe('OK');
    expect(completed).toEqual([AuthenticationType.PIN]);
    expect(await row()).toEqual({ failures: 0, locked: false });
  });

  it('completes with the revision of the process it checked the factor for (no second read of the process)', async () => {
    expect(await code(attempt(PIN))).toBe('OK');
    expect(revisions).toEqual(['revision-of-process-1']);
  });

  it('fails closed when the store cannot count the attempt: no success, nothing completed', async () => {
    failing.when = (method) => method === 'incrWithTtl';
    expect(await code(attempt(PIN))).toBe('StoreUnavailableError');
    expect(completed).toEqual([]);
  });

  describe("a transfer's factor check and the user's signing certificate (ADR 0028)", () => {
    const signer = 43n;
    const signerCaller: Caller = { kind: 'session', userId: signer, deviceId: 8n };
    const biometric = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const notAfter = new Date(Date.now() + 86_400_000);
    /** Statements sent through `deps.db`, counted as they complete. */
    let statements = 0;
    let counted: IdentityDeps;

    beforeAll(async () => {
      await db
        .insertInto('secret_credentials')
        .values({ user_id: signer, kind: 'pin', hash: await deps.hasher.hashSecret(PIN), updated_at: new Date() })
        .execute();
      await db
        .insertInto('biometric_keys')
        .values({
          user_id: signer,
          device_id: signerCaller.deviceId,
          public_key: biometric.publicKey.export({ format: 'der', type: 'spki' }),
          enabled: true,
          updated_at: new Date(),
        })
        .execute();
      const countingDb = db.withPlugin({
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          statements++;
          return args.result;
        },
      });
      counted = { ...deps, db: countingDb, signingCertificates: new SigningCertificateMemo() };
    });

    beforeEach(async () => {
      await db.deleteFrom('signing_certificates').where('user_id', '=', String(signer)).execute();
      await db
        .insertInto('signing_certificates')
        .values({
          user_id: signer,
          serial_number: 'serial-43',
          der: Buffer.from('certificate of 43'),
          status: 'active',
          not_after: notAfter,
        })
        .execute();
    });

    const withPin = async (pin: string, processId = 'transfer-1') =>
      code(createAuthentication(counted).authenticate(signerCaller, processId, { type: 'PIN', secret: await encrypt(pin) }));
    const withBiometricKey = (processId: string) =>
      code(
        createAuthentication(counted).authenticate(signerCaller, processId, {
          type: 'BIO',
          signature: sign('sha256', biometricChallenge(processId), biometric.privateKey).toString('base64'),
        }),
      );
    /** What the certificate request that follows finds in the memo, as identity.handlers asks it. */
    const remembered = () => counted.signingCertificates.take(signer, new Date());

    it('a PIN check reads the certificate in the same statement and keeps it for the one request that follows', async () => {
      statements = 0;
      expect(await withPin(PIN)).toBe('OK');
      expect(statements).toBe(1);
      const certificate = remembered();
      expect(certificate).toMatchObject({ serialNumber: 'serial-43', notAfter });
      expect(Buffer.from(certificate!.der).toString()).toBe('certificate of 43');
      expect(remembered()).toBeUndefined();
    });

    it('a biometric check does the same, in one statement', async () => {
      statements = 0;
      expect(await withBiometricKey('transfer-bio-1')).toBe('OK');
      expect(statements).toBe(1);
      expect(remembered()?.serialNumber).toBe('serial-43');
    });

    it('keeps nothing for a wrong PIN or a refused signature', async () => {
      expect(await withPin('582917')).toBe('AUTHENTICATION_FAILED');
      expect(remembered()).toBeUndefined();
      expect(
        await code(createAuthentication(counted).authenticate(signerCaller, 'transfer-bio-2', { type: 'BIO', signature: 'AAAA' })),
      ).toBe('AUTHENTICATION_FAILED');
      expect(remembered()).toBeUndefined();
      expect(await withPin(PIN)).toBe('OK'); // clears the failure for the tests after
      remembered();
    });

    it('reads no certificate for a process that is not a transfer', async () => {
      running.transactionType = AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT;
      expect(await withPin(PIN)).toBe('OK');
      expect(remembered()).toBeUndefined();
    });

    it('keeps nothing when the user has no active certificate: revoked, pending or expired', async () => {
      for (const change of [{ status: 'revoked' as const }, { status: 'pending' as const }, { not_after: new Date(Date.now() - 1) }]) {
        await db
          .updateTable('signing_certificates')
          .set({ status: 'active', not_after: notAfter, ...change })
          .where('user_id', '=', String(signer))
          .execute();
        expect(await withPin(PIN)).toBe('OK');
        expect(remembered()).toBeUndefined();
      }
    });

    it('keeps nothing read before a change of the certificates that ended while the check ran', async () => {
      // The change ends after the read and before the PIN is found right: while the attempt is
      // claimed (the limiter's store call after the read).
      failing.when = (method) => {
        if (method === 'incrWithTtlUnlessExists') void counted.signingCertificates.whileChanging(signer, async () => {});
        return false;
      };
      expect(await withPin(PIN)).toBe('OK');
      expect(remembered()).toBeUndefined();
    });
  });

  it('persists the lock on the row when the store cannot take it, and refuses the right PIN after', async () => {
    for (let i = 1; i < MAX; i++) expect(await code(attempt('582917'))).toBe('AUTHENTICATION_FAILED');
    failing.when = (method, key) => method === 'set' && key.includes('locked:');
    expect(await code(attempt('582917'))).toBe('StoreUnavailableError');
    expect(await row()).toEqual({ failures: MAX, locked: true });
    failing.when = () => false;
    // The store lost nothing it could not rebuild: the row refuses, and the user is blocked.
    expect(await code(attempt(PIN))).toBe('AUTHENTICATION_FAILED');
    expect(completed).toEqual([]);
    expect(statusChanges).toEqual([UserStatus.BLOCKED]);
  });
});
