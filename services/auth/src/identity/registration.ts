import { checkPattern, checkPin } from '@kfrm/credentials';
import { openEncryptedText } from '@kfrm/e2e-crypto';
import { DomainError, InvalidArgumentError, isDomainError, PermissionDeniedError } from '@kfrm/errors';
import { createVerificationToken, issueSigningCertificate, parseSigningCsr, SigningError, verifySignedData } from '@kfrm/pki';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import { parseBiometricPublicKey } from './biometric-key';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { SecretKind } from './identity.table';
import type { User } from './user-directory';

const HOUR_MS = 60 * 60_000;

export interface CreateUserInput {
  idpType: string;
  idpName: string;
  name: string;
  phoneNumber: string;
  verificationHint: string;
  deviceUuid: string;
}

const notFound = () => new DomainError('USER_REGISTRATION_NOT_FOUND', 'no registration in progress for this user token');
const alreadyRegistered = () => new DomainError('ALREADY_REGISTERED_USER', 'the user is already registered');

/**
 * Sign-up, in the order the app drives it. Every step after CreateUser names the user by the user
 * token, which is honoured only from the device that started the registration; the last two
 * steps carry no token and use the newest registration of the calling device.
 */
export function createRegistration(deps: IdentityDeps) {
  const { db, users, settings } = deps;

  async function open(userToken: string, deviceId: bigint): Promise<{ user: User; userId: bigint }> {
    const user = await users.findByUserToken(userToken);
    // Another device's token is treated exactly like an unknown one.
    if (!user || user.deviceId !== deviceId) throw notFound();
    return { user, userId: user.userId, ...(await checkOpen(user)) };
  }

  async function openOnDevice(deviceId: bigint): Promise<{ user: User; userId: bigint }> {
    const registration = await repo.findLatestRegistrationOfDevice(db, deviceId);
    if (!registration) throw notFound();
    const user = await users.findByUserId(BigInt(registration.user_id));
    if (!user || user.deviceId !== deviceId) throw notFound();
    return { user, userId: user.userId, ...(await checkOpen(user)) };
  }

  async function checkOpen(user: User): Promise<object> {
    if (user.userStatus === UserStatus.ACTIVATED || user.userStatus === UserStatus.BLOCKED) throw alreadyRegistered();
    // A sign-up replaced by a newer one of the same identity.
    if (user.userStatus === UserStatus.DEACTIVATED) throw notFound();
    const registration = await repo.findRegistration(db, user.userId);
    if (!registration) throw notFound();
    if (registration.completed_at) throw alreadyRegistered();
    if (registration.expires_at.getTime() <= deps.now().getTime()) {
      throw new DomainError('USER_REGISTRATION_EXPIRED', 'the registration has expired: start again');
    }
    return {};
  }

  function requireAgreed(user: User): void {
    if (user.userStatus !== UserStatus.AGREED) throw new PermissionDeniedError('the mandatory terms must be agreed first');
  }

  async function registerSecret(kind: SecretKind, userToken: string, deviceId: bigint, message: EncryptedMessage | undefined) {
    const { user, userId } = await open(userToken, deviceId);
    requireAgreed(user);
    const secret = await openEncryptedText(deps.e2e, message, 'AUTH');
    const verdict = kind === 'pin' ? checkPin(secret, { phoneNumber: user.phoneNumber }) : checkPattern(secret);
    if (verdict !== 'ok') {
      const what = kind === 'pin' ? 'PIN' : 'pattern';
      throw new DomainError(verdict, verdict.startsWith('WEAK') ? `the ${what} is too easy to guess` : `the ${what} is not valid`);
    }
    await repo.setPendingSecret(db, userId, kind, await deps.hasher.hashSecret(secret));
  }

  async function confirmSecret(kind: SecretKind, userToken: string, deviceId: bigint, message: EncryptedMessage | undefined) {
    const { userId } = await open(userToken, deviceId);
    const secret = await openEncryptedText(deps.e2e, message, 'AUTH');
    const registration = await repo.findRegistration(db, userId);
    const pending = kind === 'pin' ? registration?.pending_pin_hash : registration?.pending_pattern_hash;
    const code = kind === 'pin' ? 'USER_PIN_MISMATCH' : 'USER_PATTERN_MISMATCH';
    const matches = pending ? await deps.hasher.verifySecret(pending, secret) : await deps.hasher.dummyVerify();
    if (!pending || !matches) throw new DomainError(code, `the ${kind === 'pin' ? 'PIN' : 'pattern'} does not match the one registered`);
    await db.transaction().execute((tx) => repo.confirmSecret(tx, userId, kind, pending));
  }

  return {
    async createUser(input: CreateUserInput, deviceId: bigint) {
      if (!input.verificationHint.trim())
        throw new DomainError('USER_VERIFICATION_HINT_REQUIRED', 'the identity verification hint is missing');
      if (!input.deviceUuid.trim()) throw new DomainError('USER_DEVICE_UUID_REQUIRED', 'the device uuid is missing');
      await throttle(deps.store, `register:device:${deviceId}`, settings.registrationsPerDeviceHour, HOUR_MS);
      const verification = await deps.verifier.verify(input);
      if (!verification.verified) {
        deps.logger.info({ reason: verification.reason }, 'identity verification refused');
        throw new DomainError('USER_VERIFICATION_FAILED', 'identity verification failed');
      }
      const created = await users.registerUser({
        idpType: input.idpType,
        idpName: input.idpName,
        userName: input.name,
        phoneNumber: input.phoneNumber,
        userCi: verification.userCi,
        deviceId,
        deviceUuid: input.deviceUuid,
      });
      await repo.startRegistration(db, created.userId, deviceId, new Date(deps.now().getTime() + settings.registrationTtlMs));
      deps.logger.info({ user_id: String(created.userId) }, 'registration started');
      return created;
    },

    async listTerms(userToken: string, deviceId: bigint) {
      await open(userToken, deviceId);
      return repo.listActiveTerms(db);
    },

    async agreeTerms(userToken: string, deviceId: bigint, agreements: { termId: bigint; agreed: boolean }[]) {
      const { user, userId } = await open(userToken, deviceId);
      const terms = await repo.listActiveTerms(db);
      const known = new Set(terms.map((t) => t.id));
      for (const a of agreements) if (!known.has(String(a.termId))) throw new InvalidArgumentError(`unknown term ${a.termId}`);
      const agreed = new Set(agreements.filter((a) => a.agreed).map((a) => String(a.termId)));
      const missing = terms.filter((t) => t.mandatory && !agreed.has(t.id));
      if (missing.length > 0) throw new InvalidArgumentError('every mandatory term must be agreed');
      await repo.saveAgreements(
        db,
        userId,
        agreements.map((a) => ({ termId: String(a.termId), agreed: a.agreed })),
      );
      if (user.userStatus === UserStatus.CREATED) {
        await users.updateUserStatus(userId, UserStatus.CREATED, UserStatus.AGREED, 'terms agreed').catch((err: unknown) => {
          // A concurrent AgreeTerms already moved the user on.
          if (!isDomainError(err, 'USER_STATUS_CONFLICT')) throw err;
        });
      }
    },

    registerPin: (userToken: string, deviceId: bigint, pin: EncryptedMessage | undefined) =>
      registerSecret('pin', userToken, deviceId, pin),
    confirmPin: (userToken: string, deviceId: bigint, pin: EncryptedMessage | undefined) => confirmSecret('pin', userToken, deviceId, pin),
    registerPattern: (userToken: string, deviceId: bigint, p: EncryptedMessage | undefined) =>
      registerSecret('pattern', userToken, deviceId, p),
    confirmPattern: (userToken: string, deviceId: bigint, p: EncryptedMessage | undefined) =>
      confirmSecret('pattern', userToken, deviceId, p),

    async registerBiometric(userToken: string, deviceId: bigint, publicKey: EncryptedMessage | undefined) {
      const { user, userId } = await open(userToken, deviceId);
      requireAgreed(user);
      const spki = parseBiometricPublicKey(await openEncryptedText(deps.e2e, publicKey, 'AUTH'));
      await repo.saveBiometricKey(db, userId, deviceId, spki);
    },

    async issueSigningCertificate(userToken: string, deviceId: bigint, csrText: string) {
      const { user, userId } = await open(userToken, deviceId);
      requireAgreed(user);
      await throttle(deps.store, `cert-issue:device:${deviceId}`, settings.certificatesPerDeviceHour, HOUR_MS);
      const now = deps.now();
      try {
        const csr = await parseSigningCsr(csrText);
        const issued = await issueSigningCertificate({
          csr,
          ca: deps.signingCa,
          userId: String(userId),
          validityDays: settings.signingValidityDays,
          now,
        });
        const verificationToken = createVerificationToken();
        await repo.insertPendingCertificate(db, {
          userId,
          serialNumber: issued.serialNumber,
          der: issued.der,
          notAfter: issued.notAfter,
          verificationToken,
          tokenExpiresAt: new Date(now.getTime() + settings.signingTokenTtlMs),
        });
        deps.logger.info({ user_id: String(userId), serial: issued.serialNumber }, 'signing certificate issued (pending)');
        return { certificate: issued.base64, verificationToken, createdAt: now };
      } catch (err) {
        if (err instanceof SigningError) {
          deps.logger.info({ reason: err.reason }, 'signing certificate refused');
          throw new DomainError(
            err.seedCode,
            err.seedCode === 'INVALID_SIGNING_CSR' ? 'the CSR is not valid' : 'the signing certificate could not be issued',
            { cause: err },
          );
        }
        throw err;
      }
    },

    async verifySigningCertificate(userToken: string, deviceId: bigint, signedData: string) {
      const { userId } = await open(userToken, deviceId);
      const now = deps.now();
      // Taken once: a failed (or replayed) signature needs a new certificate and token.
      const pending = await repo.takeVerificationToken(db, userId, now);
      if (!pending) throw new DomainError('SIGNING_CERTIFICATE_NOT_FOUND', 'no signing certificate is waiting for verification');
      const result = await verifySignedData({
        signedData,
        expectedContent: Buffer.from(pending.verificationToken, 'utf8'),
        trustedSigner: pending.der,
        signingCa: deps.signingCa.cert,
        now,
      });
      if (!result.ok) {
        deps.logger.info({ detail: result.detail }, 'signing certificate verification refused');
        throw new DomainError('SIGNING_CERTIFICATE_VERIFICATION_FAILED', 'the signature over the verification token is not valid');
      }
      await db.transaction().execute((tx) => repo.activateCertificate(tx, userId, pending.id, now));
    },

    async submitCustomerInfo(deviceId: bigint, residentId: string, name: string) {
      const { userId } = await openOnDevice(deviceId);
      if (!residentId.trim() || !name.trim()) throw new InvalidArgumentError('resident_id and name are required');
      return users.updateCustomerInfo(userId, residentId, name);
    },

    async registerKyc(deviceId: bigint, kycData: string) {
      const { user, userId } = await openOnDevice(deviceId);
      requireAgreed(user);
      if (!kycData.trim()) throw new InvalidArgumentError('kyc_data is required');
      const [pin, pattern, certificate] = await Promise.all([
        repo.findSecret(db, userId, 'pin'),
        repo.findSecret(db, userId, 'pattern'),
        repo.findActiveCertificate(db, userId, deps.now()),
      ]);
      if (!pin || !pattern || !certificate) {
        throw new PermissionDeniedError('PIN, pattern and signing certificate must be registered before KYC');
      }
      await users.updateKyc(userId, KycStatus.REGISTERED, 'KYC data submitted at sign-up');
      await users.updateUserStatus(userId, UserStatus.AGREED, UserStatus.ACTIVATED, 'registration completed');
      await repo.completeRegistration(db, userId);
      deps.logger.info({ user_id: String(userId) }, 'registration completed');
    },
  };
}

export type Registration = ReturnType<typeof createRegistration>;
