import { failWith, isDomainError } from '@kfrm/errors';
import type { IdentityDeps } from './identity-deps';
import type { DirectoryCode } from './user-directory';

export type LogoutCode = never;
export type ListSessionsCode = DirectoryCode['findSessionId'];
export type RevokeSessionCode = 'SESSION_NOT_FOUND';

/** The caller's session, as the access guard resolved it. */
export interface SessionCaller {
  userId: bigint;
  deviceId: bigint;
  sessionToken: string;
}

export interface LoginInfo {
  sessionId: string;
  deviceId: bigint;
  createdAt: string;
  lastRefreshedAt: string;
  expiresAt: string;
  current: boolean;
}

/**
 * The customer's own logins: end this one (logout), see them, end one from another. Every
 * revocation goes through the user service's session revocation (RevokeSession), the one path
 * that also announces it (ending the login's notification streams).
 *
 * Devices: a customer is bound to one device (the user service's users.device_id); there is no
 * device list beyond the device each login shows. A lost phone is cut off from the new phone by
 * the device change (DeviceChangeService), which revokes the old device's certificate, sessions
 * and signing certificate.
 */
export function createSessionManagement(deps: Pick<IdentityDeps, 'users' | 'logger'>) {
  const { users } = deps;
  const notFound = () => failWith<RevokeSessionCode>()('SESSION_NOT_FOUND', 'no such session');

  return {
    async logout(caller: SessionCaller): Promise<void> {
      let sessionId: string;
      try {
        sessionId = await users.findSessionId(caller.sessionToken);
      } catch (err) {
        // Ended between the access check and here: logged out already.
        if (isDomainError(err, 'LOGIN_SESSION_EXPIRED')) return;
        throw err;
      }
      await users.revokeSession(caller.userId, sessionId, 'logout');
      deps.logger.info({ user_id: String(caller.userId), device_id: String(caller.deviceId) }, 'logged out');
    },

    async list(caller: SessionCaller): Promise<LoginInfo[]> {
      const [current, sessions] = await Promise.all([users.findSessionId(caller.sessionToken), users.listSessions(caller.userId)]);
      return sessions.map((s) => ({
        sessionId: s.sessionId,
        deviceId: s.deviceId,
        createdAt: s.createdAt,
        lastRefreshedAt: s.lastRefreshedAt,
        expiresAt: s.expiresAt,
        current: s.sessionId === current,
      }));
    },

    async revoke(caller: SessionCaller, sessionId: string): Promise<void> {
      if (!sessionId || sessionId.length > 64) throw notFound();
      const revoked = await users.revokeSession(caller.userId, sessionId, 'revoked by the user');
      if (revoked === 0) throw notFound();
      deps.logger.info({ user_id: String(caller.userId), sessions_revoked: revoked }, 'session revoked by the user');
    },
  };
}

export type SessionManagement = ReturnType<typeof createSessionManagement>;
