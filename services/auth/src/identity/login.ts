import { failWith, isDomainError, PermissionDeniedError } from '@kfrm/errors';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { authenticationFailed } from './authentication';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { DirectoryCode } from './user-directory';

export type PrepareLoginCode = DirectoryCode['findByUserToken'] | DirectoryCode['createProcess'];
/** CreateSession's refusals (an unusable user token among them) become AUTHENTICATION_FAILED. */
export type LoginCode = 'AUTHENTICATION_FAILED';
export type RefreshSessionCode = 'INVALID_LOGIN_SESSION' | DirectoryCode['rotateSession'];

/** Login with a LOGIN process, and session refresh; everything bound to the calling device. */
export function createLogin(deps: IdentityDeps) {
  const { db, users } = deps;

  async function loginUser(userToken: string, deviceId: bigint) {
    const user = await users.findByUserToken(userToken);
    if (!user || user.deviceId !== deviceId || user.userStatus !== UserStatus.ACTIVATED) return undefined;
    return user;
  }

  return {
    async prepareLogin(userToken: string, deviceId: bigint) {
      const user = await loginUser(userToken, deviceId);
      // Unknown token, another device's token, or a user who cannot log in: one answer.
      if (!user) throw new PermissionDeniedError('login is not possible with this user token on this device');
      const key = await repo.findBiometricKey(db, user.userId);
      const biometricEnabled = key?.enabled && BigInt(key.device_id) === deviceId;
      // The user service's policies choose the factors; biometric_enabled selects the biometric one.
      return users.createProcess(user.userId, AuthenticatedTransactionType.LOGIN, JSON.stringify({ biometric_enabled: biometricEnabled }));
    },

    async login(userToken: string, processId: string, deviceId: bigint) {
      if (!userToken || !processId) throw authenticationFailed();
      try {
        // The user service finds the token's user (ACTIVATED, bound to this device) in the
        // session's own transaction: no lookup of the user before it.
        const { userId, userName, ...tokens } = await users.createSessionForUserToken(userToken, deviceId, processId);
        deps.logger.info({ user_id: String(userId) }, 'logged in');
        return { ...tokens, userName };
      } catch (err) {
        if (isDomainError(err, 'AUTHENTICATION_PROCESS_NOT_FOUND', 'AUTHENTICATION_FAILED')) throw authenticationFailed();
        throw err;
      }
    },

    async refreshSession(refreshToken: string, deviceId: bigint) {
      if (!refreshToken) throw failWith<RefreshSessionCode>()('INVALID_LOGIN_SESSION', 'the session is not valid');
      return users.rotateSession(refreshToken, deviceId);
    },
  };
}

export type Login = ReturnType<typeof createLogin>;
