import { createHash } from 'node:crypto';
import { openEncryptedText } from '@kfrm/e2e-crypto';
import { failWith, isDomainError } from '@kfrm/errors';
import {
  AuthenticatedTransactionType,
  Authentication_AuthenticationStatus,
  AuthenticationType,
  type AuthenticationProcess,
  type EncryptedMessage,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { verifyBiometricSignature } from './biometric-key';
import { throttle, type E2eCode, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { RememberedCertificate } from './signing-certificate-memo';
import type { SecretKind } from './identity.table';
import type { DirectoryCode, RunningProcess } from './user-directory';

const TEN_MINUTES_MS = 10 * 60_000;
/** Longer than any process lives: a used challenge must stay used until its process is gone. */
const USED_CHALLENGE_TTL_MS = 24 * 60 * 60_000;

/** One code and one message for wrong secret, locked credential, blocked or unknown user. */
export const authenticationFailed = () => failWith<'AUTHENTICATION_FAILED'>()('AUTHENTICATION_FAILED', 'authentication failed');

export type Factor = { type: 'PIN' | 'PATTERN'; secret: EncryptedMessage | undefined } | { type: 'BIO'; signature: string };

/** The codes only one factor meets: each Authenticate<Factor> method declares its own. */
interface FactorCode {
  PIN: 'USER_PIN_NOT_FOUND';
  PATTERN: 'USER_PATTERN_NOT_FOUND';
  BIO: 'USER_BIOMETRIC_NOT_FOUND' | 'USER_BIOMETRIC_DISABLED';
}

/**
 * What `authenticate` raises with a factor of type `T`. blockUser's UpdateUserStatus refusals
 * are swallowed, so none of its codes is here.
 */
export type AuthenticateCode<T extends Factor['type'] = Factor['type']> =
  | 'AUTHENTICATION_FAILED'
  | 'RUNNING_PROCESS_NOT_FOUND'
  | 'AUTHENTICATION_TYPE_NOT_DEFINED'
  | FactorCode[T]
  | E2eCode
  | DirectoryCode['findByUserToken']
  | DirectoryCode['getRunningProcess']
  | DirectoryCode['completeAuthentication'];

const fail = failWith<AuthenticateCode>();

/** Who asks: a session's user, or the holder of a user token (login, device change). */
export type Caller = { kind: 'session'; userId: bigint; deviceId: bigint } | { kind: 'userToken'; userToken: string; deviceId: bigint };

const PROTO_TYPE = { PIN: AuthenticationType.PIN, PATTERN: AuthenticationType.PATTERN, BIO: AuthenticationType.BIO } as const;
const KIND: Record<'PIN' | 'PATTERN', SecretKind> = { PIN: 'pin', PATTERN: 'pattern' };
/** The processes a user-token caller (no session yet) may authenticate: login, device change, app reinstall. */
const USER_TOKEN_TYPES: ReadonlySet<AuthenticatedTransactionType> = new Set([
  AuthenticatedTransactionType.LOGIN,
  AuthenticatedTransactionType.CHANGE_DEVICE,
  AuthenticatedTransactionType.REINSTALL_APP,
]);

export function deviceChangeKey(processId: string): string {
  return `device-change:${processId}`;
}

/**
 * The start of what the device-change key holds: the user and the device that prepared it (the
 * process type follows, see device-change.ts). Only that device may run the process's steps.
 */
export function deviceChangeOwner(userId: bigint, deviceId: bigint): string {
  return `${userId}:${deviceId}:`;
}

/**
 * Moves an authentication process by one verified factor. The process must be running and the
 * caller's; the factor must be one the process asks for (as type or fallback); then the factor is
 * checked and the user service records it.
 */
export function createAuthentication(deps: IdentityDeps) {
  const { db, users, store } = deps;

  /** Same store calls and one argon2 verify, as a real wrong attempt costs. */
  async function refuseLikeWrongSecret(kind: SecretKind, pseudoId: string): Promise<never> {
    const claim = await deps.limiters[kind].claim(pseudoId);
    await deps.hasher.dummyVerify();
    if (claim.allowed) await deps.limiters[kind].recordFailure(pseudoId, claim.attempt);
    throw authenticationFailed();
  }

  /**
   * The user, whether the caller is on another device than the user's bound one, and the running
   * process. A user-token caller's user and process come in one call: an unusable user is refused
   * like a wrong secret before the process is looked at, as when they were two.
   */
  async function resolveUserAndProcess(
    caller: Caller,
    factor: Factor,
    processId: string,
  ): Promise<{ userId: bigint; offDevice: boolean; running: RunningProcess }> {
    if (caller.kind === 'session') {
      return { userId: caller.userId, offDevice: false, running: await users.getRunningProcess(processId, caller.userId) };
    }
    const { user, running } = await users.getRunningProcessForUserToken(caller.userToken, processId);
    let usable = user !== undefined && user.userStatus === UserStatus.ACTIVATED;
    if (usable && user!.deviceId !== caller.deviceId) {
      // Only a device change runs on another device than the user's, and only on the device
      // that prepared it.
      usable = (await store.get(deviceChangeKey(processId)))?.startsWith(deviceChangeOwner(user!.userId, caller.deviceId)) === true;
    }
    if (!usable) {
      if (factor.type === 'BIO') throw authenticationFailed();
      // Keyed by a hash of the token asked for, so the unknown-user path also takes a slot.
      const pseudo = `unknown-${createHash('sha256').update(caller.userToken).digest('hex').slice(0, 32)}`;
      return refuseLikeWrongSecret(KIND[factor.type], pseudo);
    }
    if (!running) throw fail('RUNNING_PROCESS_NOT_FOUND', 'no such running process');
    return { userId: user!.userId, offDevice: user!.deviceId !== caller.deviceId, running };
  }

  /**
   * A secret given on another device (device change, reinstall): checked against the credential
   * but counted on the per-user off-device limiter, so a stranger with the user token locks only
   * device changes, never the customer's PIN; a credential locked already refuses here too.
   */
  async function verifySecretOffDevice(userId: bigint, type: 'PIN' | 'PATTERN', secret: string, deviceId: bigint): Promise<void> {
    const kind = KIND[type];
    await throttle(store, `${kind}:device:${deviceId}`, deps.settings.secretChecksPerDeviceWindow, TEN_MINUTES_MS);
    const row = await repo.findSecret(db, userId, kind);
    if (!row) {
      await deps.hasher.dummyVerify();
      throw fail(type === 'PIN' ? 'USER_PIN_NOT_FOUND' : 'USER_PATTERN_NOT_FOUND', `no ${kind} is registered`);
    }
    const limiter = deps.offDeviceLimiters[kind];
    const id = String(userId);
    const claim = row.locked ? ({ allowed: false } as const) : await limiter.claim(id);
    if (!claim.allowed) {
      await deps.hasher.dummyVerify();
      throw authenticationFailed();
    }
    if (await deps.hasher.verifySecret(row.hash, secret)) {
      await limiter.recordSuccess(id);
      return;
    }
    const failure = await limiter.recordFailure(id, claim.attempt);
    if (failure.locked) deps.logger.warn({ user_id: String(userId), kind }, 'off-device attempts locked after repeated failures');
    throw authenticationFailed();
  }

  /**
   * The factor's row. For a transfer, read in the same statement as the user's active signing
   * certificate, which `keepCertificate` hands to the memo once the factor is verified: the app
   * signs and sends Execute right after this check, and the user service then asks for that
   * certificate (ADR 0028).
   */
  async function readFactor<T>(
    userId: bigint,
    forTransfer: boolean,
    alone: () => Promise<T | undefined>,
    withCertificate: (now: Date) => Promise<{ factor: T; certificate: RememberedCertificate | undefined } | undefined>,
  ): Promise<{ factor: T | undefined; keepCertificate(): void }> {
    if (!forTransfer) return { factor: await alone(), keepCertificate: () => {} };
    const ticket = deps.signingCertificates.beforeRead();
    const found = await withCertificate(deps.now());
    return {
      factor: found?.factor,
      keepCertificate: () => {
        if (found?.certificate) deps.signingCertificates.remember(userId, found.certificate, ticket);
      },
    };
  }

  async function verifySecret(
    userId: bigint,
    type: 'PIN' | 'PATTERN',
    secret: string,
    deviceId: bigint,
    forTransfer = false,
  ): Promise<void> {
    const kind = KIND[type];
    await throttle(store, `${kind}:device:${deviceId}`, deps.settings.secretChecksPerDeviceWindow, TEN_MINUTES_MS);
    const { factor: row, keepCertificate } = await readFactor(
      userId,
      forTransfer,
      () => repo.findSecret(db, userId, kind),
      async (now) => {
        const found = await repo.findSecretWithActiveCertificate(db, userId, kind, now);
        return found && { factor: found.secret, certificate: found.certificate };
      },
    );
    if (!row) {
      await deps.hasher.dummyVerify();
      throw fail(type === 'PIN' ? 'USER_PIN_NOT_FOUND' : 'USER_PATTERN_NOT_FOUND', `no ${kind} is registered`);
    }
    const limiter = deps.limiters[kind];
    const credentialId = String(userId);
    // Claimed before the check: N+50 racing attempts evaluate at most N.
    const claim = await limiter.claim(credentialId, { failures: row.failures, locked: row.locked });
    if (!claim.allowed) {
      await deps.hasher.dummyVerify();
      await blockUser(userId);
      throw authenticationFailed();
    }
    if (await deps.hasher.verifySecret(row.hash, secret)) {
      await limiter.recordSuccess(credentialId);
      const rehash = deps.hasher.needsRehash(row.hash) ? await deps.hasher.hashSecret(secret) : undefined;
      // Most checks succeed with no failures on record: no write then (one less WAL flush per login).
      if (row.failures > 0 || rehash) await repo.recordSecretSuccess(db, userId, kind, rehash);
      keepCertificate();
      return;
    }
    let failure: { failures: number; locked: boolean };
    try {
      failure = await limiter.recordFailure(credentialId, claim.attempt);
    } catch (err) {
      // The lock could not be stored: persist the count anyway, claim rebuilds the lock from it.
      await repo.recordSecretFailure(db, userId, kind, claim.attempt, claim.attempt >= limiter.maxAttempts);
      throw err;
    }
    await repo.recordSecretFailure(db, userId, kind, failure.failures, failure.locked);
    if (failure.locked) deps.logger.warn({ user_id: String(userId), kind }, 'credential locked after repeated failures');
    throw authenticationFailed();
  }

  /**
   * An attempt on a locked (or exhausted) credential blocks the user: N failures lock the
   * credential, the next try sets the user BLOCKED (the user service then ends the sessions and
   * revokes the device). Only an unlock flow with identity re-verification lifts it.
   */
  async function blockUser(userId: bigint): Promise<void> {
    await users.updateUserStatus(userId, UserStatus.ACTIVATED, UserStatus.BLOCKED, 'credential locked').catch((err: unknown) => {
      if (!isDomainError(err, 'USER_STATUS_CONFLICT', 'USER_NOT_FOUND')) throw err;
    });
  }

  async function verifyBiometric(
    userId: bigint,
    processId: string,
    signature: string,
    deviceId: bigint,
    forTransfer: boolean,
  ): Promise<void> {
    const { factor: key, keepCertificate } = await readFactor(
      userId,
      forTransfer,
      () => repo.findBiometricKey(db, userId),
      async (now) => {
        const found = await repo.findBiometricKeyWithActiveCertificate(db, userId, now);
        return found && { factor: found.key, certificate: found.certificate };
      },
    );
    if (!key) throw fail('USER_BIOMETRIC_NOT_FOUND', 'no biometric key is registered');
    if (!key.enabled) throw fail('USER_BIOMETRIC_DISABLED', 'biometric authentication is turned off');
    // The key lives in this device's secure hardware; a signature from elsewhere is not ours.
    if (BigInt(key.device_id) !== deviceId) throw authenticationFailed();
    if (!verifyBiometricSignature(key.public_key, processId, signature)) throw authenticationFailed();
    // The challenge (the process id) is good for one successful signature, ever: the first
    // writer wins atomically, a replay of the same signature finds the mark.
    if (!(await store.setIfAbsent(`bio-challenge:${processId}`, '1', USED_CHALLENGE_TTL_MS))) throw authenticationFailed();
    keepCertificate();
  }

  return {
    /** A PIN or pattern given with a session on the bound device, outside a process (a credential change). */
    verifySecretOnBoundDevice: verifySecret,

    async authenticate(caller: Caller, processId: string, factor: Factor): Promise<AuthenticationProcess> {
      if (!processId) throw fail('RUNNING_PROCESS_NOT_FOUND', 'no such running process');
      // Decrypted first, for every caller: an E2E error must not tell a valid user token from an unknown one.
      const secret = factor.type === 'BIO' ? undefined : await openEncryptedText(deps.e2e, factor.secret, 'AUTH');
      const { userId, offDevice, running } = await resolveUserAndProcess(caller, factor, processId);
      if (caller.kind === 'userToken' && !USER_TOKEN_TYPES.has(running.transactionType)) {
        // The ForLogin methods serve only processes started with a user token.
        throw fail('RUNNING_PROCESS_NOT_FOUND', 'no such running process');
      }
      const type = PROTO_TYPE[factor.type];
      const defined = running.process.authentications.some(
        (a) => a.status === Authentication_AuthenticationStatus.READY && (a.type === type || a.fallback === type),
      );
      if (!defined) throw fail('AUTHENTICATION_TYPE_NOT_DEFINED', 'the process does not ask for this authentication');
      // A transfer is signed and executed right after this check (ADR 0028).
      const forTransfer = caller.kind === 'session' && running.transactionType === AuthenticatedTransactionType.TRANSFER;
      if (factor.type === 'BIO') await verifyBiometric(userId, processId, factor.signature, caller.deviceId, forTransfer);
      else if (offDevice) await verifySecretOffDevice(userId, factor.type, secret!, caller.deviceId);
      else await verifySecret(userId, factor.type, secret!, caller.deviceId, forTransfer);
      // The revision: one guarded write, no second read of the process (ADR 0015).
      return users.completeAuthentication(processId, userId, type, running.revision);
    },
  };
}

export type Authenticator = ReturnType<typeof createAuthentication>;
