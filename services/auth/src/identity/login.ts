import { failWith, isDomainError, PermissionDeniedError } from '@kfrm/errors';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { authenticationFailed } from './authentication';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { DirectoryCode } from './user-directory';

export type PrepareLoginCode = DirectoryCode['createProcessForUserToken'];
/** CreateSession's refusals (an unusable user token among them) become AUTHENTICATION_FAILED. */
export type LoginCode = 'AUTHENTICATION_FAILED';
export type RefreshSessionCode = 'INVALID_LOGIN_SESSION' | DirectoryCode['rotateSession'];

/** The LOGIN process's context; the user service's policies choose the factors from it. */
const loginContext = (biometricEnabled: boolean) => JSON.stringify({ biometric_enabled: biometricEnabled });

/** Login with a LOGIN process, and session refresh; everything bound to the calling device. */
export function createLogin(deps: IdentityDeps) {
  const { db, users } = deps;

  return {
    async prepareLogin(userToken: string, deviceId: bigint) {
      const refused = () => new PermissionDeniedError('login is not possible with this user token on this device');
      if (!userToken) throw refused();
      // The key lives in the device's secure hardware: only a key on this device can sign in.
      // Looked up by device before the user is known, so the user service finds the token's
      // holder and creates the process in one statement (ADR 0021).
      const biometricUsers = await repo.findUsersWithBiometricKeyOnDevice(db, deviceId);
      const process = await users.createProcessForUserToken(userToken, deviceId, AuthenticatedTransactionType.LOGIN, loginContext(false), {
        userIds: biometricUsers,
        context: loginContext(true),
      });
      // Unknown token, another device's token, or a user who cannot log in: one answer.
      if (!process) throw refused();
      return process;
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
