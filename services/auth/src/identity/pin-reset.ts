import { randomBytes, timingSafeEqual } from 'node:crypto';
import { checkPin, type PinCheckResult } from '@kfrm/credentials';
import { openEncryptedText } from '@kfrm/e2e-crypto';
import { failWith, isDomainError } from '@kfrm/errors';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { authenticationFailed } from './authentication';
import { verifyDeviceProof } from './device-proof';
import { throttle, type E2eCode, type IdentityDeps } from './identity-deps';
import type { IdentityClaim } from './identity-verifier';
import * as repo from './identity.repository';
import type { SecretKind } from './identity.table';
import type { DirectoryCode } from './user-directory';

export type PrepareResetPinCode = 'PIN_RESET_NOT_ALLOWED' | DirectoryCode['findByUserToken'] | DirectoryCode['findUsersOnDevice'];
export type ResetPinCode =
  | PrepareResetPinCode
  | 'AUTHENTICATION_FAILED'
  | 'USER_VERIFICATION_HINT_REQUIRED'
  | 'USER_VERIFICATION_FAILED'
  | Exclude<PinCheckResult, 'ok'>
  | E2eCode
  | DirectoryCode['updateUserStatus']
  | DirectoryCode['revokeSessions'];

const HOUR_MS = 60 * 60_000;
const DAY_MS = 24 * HOUR_MS;
const CHALLENGE_TTL_MS = 10 * 60_000;
/** Resets per customer and day, and attempts per device and hour: an IdP check is not free, and a reset unblocks. */
const RESETS_PER_USER_DAY = 5;
const RESETS_PER_DEVICE_HOUR = 10;
const KINDS: readonly SecretKind[] = ['pin', 'pattern'];

const challengeKey = (challenge: string) => `pin-reset:${challenge}`;

/**
 * A forgotten PIN, and the customer's own way out of BLOCKED: identity re-verification as at
 * sign-up (the IdP must verify the same person: the same CI) plus a device proof over a
 * one-time challenge, from a device that is the customer's (the bound one, or a fresh phone:
 * never another customer's). Then the new PIN replaces the old one, every lock is cleared, a
 * BLOCKED customer is ACTIVATED, and every session of the customer ends.
 */
export function createPinReset(deps: IdentityDeps) {
  const { users, store } = deps;
  const fail = failWith<ResetPinCode>();
  const notAllowed = () => fail('PIN_RESET_NOT_ALLOWED', 'the PIN cannot be reset now');

  async function eligibleUser(userToken: string, deviceId: bigint) {
    const user = await users.findByUserToken(userToken);
    if (!user || (user.userStatus !== UserStatus.ACTIVATED && user.userStatus !== UserStatus.BLOCKED)) throw notAllowed();
    const owners = await users.findUsersOnDevice(deviceId);
    if (owners.some((owner) => owner !== user.userId)) throw notAllowed();
    return user;
  }

  return {
    async prepare(userToken: string, deviceId: bigint): Promise<string> {
      await throttle(store, `pin-reset:device:${deviceId}`, RESETS_PER_DEVICE_HOUR, HOUR_MS);
      const user = await eligibleUser(userToken, deviceId);
      const challenge = randomBytes(16).toString('base64url');
      await store.set(challengeKey(challenge), `${user.userId}:${deviceId}`, { ttlMs: CHALLENGE_TTL_MS });
      return challenge;
    },

    async reset(input: {
      userToken: string;
      deviceId: bigint;
      certificateDer: Uint8Array;
      challenge: string;
      deviceSignature: string;
      claim: IdentityClaim;
      newPin: EncryptedMessage | undefined;
    }): Promise<void> {
      const { deviceId } = input;
      await throttle(store, `pin-reset:device:${deviceId}`, RESETS_PER_DEVICE_HOUR, HOUR_MS);
      const user = await eligibleUser(input.userToken, deviceId);
      const userId = user.userId;
      await throttle(store, `pin-reset:user:${userId}`, RESETS_PER_USER_DAY, DAY_MS);
      const newPin = await openEncryptedText(deps.e2e, input.newPin, 'AUTH');
      const verdict = checkPin(newPin, { phoneNumber: user.phoneNumber });
      if (verdict !== 'ok') throw fail(verdict, verdict === 'WEAK_USER_PIN' ? 'the PIN is too easy to guess' : 'the PIN is not valid');
      if (!input.claim.verificationHint.trim()) throw fail('USER_VERIFICATION_HINT_REQUIRED', 'the identity verification hint is missing');
      // The challenge is taken once, whatever follows: a refused proof or identity needs a new one.
      const held = input.challenge && input.challenge.length <= 64 ? await store.get(challengeKey(input.challenge)) : null;
      if (held !== null) await store.del(challengeKey(input.challenge));
      if (held !== `${userId}:${deviceId}` || !verifyDeviceProof(input.certificateDer, input.challenge, input.deviceSignature)) {
        deps.logger.info({ user_id: String(userId) }, 'PIN reset refused: challenge or device proof');
        throw authenticationFailed();
      }
      const verification = await deps.verifier.verify(input.claim);
      if (!verification.verified || !sameCi(verification.userCi, user.userCi)) {
        deps.logger.info(
          { user_id: String(userId), reason: verification.verified ? 'another person' : verification.reason },
          'PIN reset refused: identity',
        );
        throw fail('USER_VERIFICATION_FAILED', 'identity verification failed');
      }
      const hash = await deps.hasher.hashSecret(newPin);
      // Credentials first, status second (as the operator's unlock): each step is idempotent.
      await deps.db.transaction().execute((tx) => repo.resetPin(tx, userId, hash));
      for (const kind of KINDS) {
        await deps.limiters[kind].unlock(String(userId));
        await deps.offDeviceLimiters[kind].unlock(String(userId));
      }
      if (user.userStatus === UserStatus.BLOCKED) {
        await users
          .updateUserStatus(userId, UserStatus.BLOCKED, UserStatus.ACTIVATED, 'PIN reset with identity re-verification', { unlock: true })
          .catch(async (err: unknown) => {
            // A racing reset or unlock got there first.
            if (!isDomainError(err, 'USER_STATUS_CONFLICT') || (await users.findByUserId(userId))?.userStatus !== UserStatus.ACTIVATED)
              throw err;
          });
      }
      const revoked = await users.revokeSessions(userId, 0n, 'PIN reset');
      deps.logger.info(
        { user_id: String(userId), unblocked: user.userStatus === UserStatus.BLOCKED, sessions_revoked: revoked },
        'PIN reset',
      );
    },
  };
}

function sameCi(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export type PinReset = ReturnType<typeof createPinReset>;
