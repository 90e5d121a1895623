import { failWith, InvalidArgumentError, isDomainError } from '@kfrm/errors';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { SecretKind } from './identity.table';
import type { DirectoryCode } from './user-directory';

export type UnlockUserCode = 'USER_NOT_FOUND' | 'USER_STATUS_CONFLICT' | DirectoryCode['findByUserId'] | DirectoryCode['updateUserStatus'];

const fail = failWith<UnlockUserCode>();

const KINDS: readonly SecretKind[] = ['pin', 'pattern'];
const MAX_REASON_CHARS = 256;

/**
 * The operator's unlock of a user that repeated wrong PINs (or patterns) BLOCKED. Re-verifying
 * the person's identity happens outside the system, before this is called: the call itself
 * trusts its caller (internal listener only).
 *
 * Credentials first, status second: a user set ACTIVATED with a still-locked PIN would be
 * BLOCKED again by the next attempt, while a BLOCKED user with cleared counters can try nothing
 * (every factor check needs an ACTIVATED user). Each step is idempotent, so a failed call is
 * simply repeated; an ACTIVATED user (a retry after the status step went through) only gets the
 * credentials cleared again.
 *
 * The device the block revoked stays revoked, and the sessions stay ended: the app gets a new
 * device certificate and moves the user with PrepareDeviceChange/ChangeDevice (REINSTALL_APP on
 * the same phone), authenticated with the PIN like any device change.
 */
export function createUnlock(deps: IdentityDeps) {
  const { db, users } = deps;

  return {
    async unlockUser(userId: bigint, reason: string): Promise<{ statusChanged: boolean }> {
      if (reason.trim() === '' || reason.length > MAX_REASON_CHARS)
        throw new InvalidArgumentError(`reason is required (at most ${MAX_REASON_CHARS} characters)`);
      const user = await users.findByUserId(userId);
      if (!user) throw fail('USER_NOT_FOUND', 'user not found');
      if (user.userStatus !== UserStatus.BLOCKED && user.userStatus !== UserStatus.ACTIVATED) {
        throw fail('USER_STATUS_CONFLICT', 'only a BLOCKED (or already ACTIVATED) user can be unlocked');
      }
      // The database row first: with failures left there, the limiter's claim would restore the
      // lock in the store that the next step clears.
      await repo.resetSecretAttempts(db, userId);
      for (const kind of KINDS) await deps.limiters[kind].unlock(String(userId));
      let statusChanged = false;
      if (user.userStatus === UserStatus.BLOCKED) {
        try {
          await users.updateUserStatus(userId, UserStatus.BLOCKED, UserStatus.ACTIVATED, reason, { unlock: true });
          statusChanged = true;
        } catch (err) {
          // A racing unlock got there first: the user is ACTIVATED, which is what was asked.
          if (!isDomainError(err, 'USER_STATUS_CONFLICT') || (await users.findByUserId(userId))?.userStatus !== UserStatus.ACTIVATED)
            throw err;
        }
      }
      deps.logger.info({ user_id: String(userId), status_changed: statusChanged }, 'user unlocked by operator');
      return { statusChanged };
    },
  };
}

export type Unlock = ReturnType<typeof createUnlock>;
