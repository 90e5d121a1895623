import { failWith } from '@kfrm/errors';
import type { UserDomainDeps } from './deps';
import { newFamilyId, newToken, tokenHash } from './tokens';
import type { ResolvedSession } from './user.model';
import {
  consumeDoneProcess,
  createSessionForUserTokenHash,
  findLiveSession,
  findProcess,
  findUserById,
  insertSession,
  listLiveLogins,
  type LiveLogin,
  lockSessionByRefreshHash,
  markSessionRotated,
  revokeSessionFamily,
  revokeUserSessions,
  type UserTrx,
} from './user.repository';

export interface IssuedSession {
  sessionToken: string;
  sessionExpiresAt: Date;
  refreshToken: string;
  refreshExpiresAt: Date;
}

const MAX_TOKEN_CHARS = 512;

/*
 * The seed codes each use case raises. The handlers' policies check them against each method's
 * ApiError at compile time; each use case throws through its maker.
 */
export type CreateSessionCode = 'AUTHENTICATION_PROCESS_NOT_FOUND' | 'AUTHENTICATION_FAILED';
export type RotateSessionCode = 'INVALID_LOGIN_SESSION';
export type FindBySessionTokenCode = 'SESSION_TOKEN_REQUIRED' | 'LOGIN_SESSION_EXPIRED';
export type FindSessionIdCode = 'LOGIN_SESSION_EXPIRED';

/** A user sees at most this many logins (one device per user: normally one or two). */
const MAX_LISTED_LOGINS = 50;
const MAX_SESSION_ID_CHARS = 64;

const createFailed = failWith<CreateSessionCode>();
const rotateFailed = failWith<RotateSessionCode>();
const findFailed = failWith<FindBySessionTokenCode>();

/**
 * Login sessions. A session token (short) and a refresh token (rotating, single use) are issued
 * together, bound to one device, and stored only as SHA-256 hashes. A refresh-token family is
 * one login and all its rotations: it ends at an absolute time, and the reuse of a spent refresh
 * token revokes all of it (the token was copied; the legitimate holder logs in again).
 */
export function createSessions(deps: UserDomainDeps) {
  const clock = deps.now ?? (() => new Date());
  const { db, logger } = deps;

  /** A new session and refresh token pair of a family, and the hashes that are stored. */
  function newTokens(now: Date, familyExpiresAt: Date) {
    const sessionToken = newToken();
    const refreshToken = newToken();
    const sessionExpiresAt = new Date(Math.min(now.getTime() + deps.sessionTtlMs, familyExpiresAt.getTime()));
    return {
      issued: { sessionToken, sessionExpiresAt, refreshToken, refreshExpiresAt: familyExpiresAt } satisfies IssuedSession,
      hashes: { sessionTokenHash: tokenHash(sessionToken), refreshTokenHash: tokenHash(refreshToken), sessionExpiresAt },
    };
  }

  async function issue(
    trx: UserTrx,
    params: { userId: bigint; deviceId: bigint; familyId: string; familyExpiresAt: Date; now: Date },
  ): Promise<IssuedSession> {
    const tokens = newTokens(params.now, params.familyExpiresAt);
    await insertSession(trx, {
      familyId: params.familyId,
      userId: params.userId,
      deviceId: params.deviceId,
      familyExpiresAt: params.familyExpiresAt,
      now: params.now,
      ...tokens.hashes,
    });
    return tokens.issued;
  }

  return {
    /**
     * Consumes the user's DONE LOGIN process (one statement, so one process yields one session
     * however many calls race) and issues a session on the user's bound device. Unknown, expired
     * or another user's process: AUTHENTICATION_PROCESS_NOT_FOUND; not DONE, not LOGIN, already
     * used, user not ACTIVATED or not on this device: AUTHENTICATION_FAILED (nothing consumed).
     *
     * The user is given by id or as the holder of `userToken` (the login's caller): then it is
     * looked up and locked by the same single statement that consumes the process and writes the
     * session (nothing is consumed unless the holder is usable), and an unknown token is
     * AUTHENTICATION_FAILED too.
     */
    async createSession(
      input: { deviceId: bigint; processId: string } & ({ userId: bigint } | { userToken: string }),
    ): Promise<IssuedSession & { userId: bigint; userName: string }> {
      const now = clock();
      const failed = () => createFailed('AUTHENTICATION_FAILED', 'authentication failed');
      if (
        'userToken' in input &&
        (typeof input.userToken !== 'string' || input.userToken === '' || input.userToken.length > MAX_TOKEN_CHARS)
      )
        throw failed();
      if ('userToken' in input) {
        // The login's path, one statement: the holder locked, the process consumed, the session.
        if (input.deviceId === 0n) throw failed();
        const familyExpiresAt = new Date(now.getTime() + deps.refreshFamilyTtlMs);
        const tokens = newTokens(now, familyExpiresAt);
        const login = await createSessionForUserTokenHash(db, {
          userTokenHash: tokenHash(input.userToken),
          processId: input.processId,
          deviceId: input.deviceId,
          familyId: newFamilyId(),
          familyExpiresAt,
          now,
          ...tokens.hashes,
        });
        if (!login.user) throw failed();
        if (!login.issued) {
          const process = await findProcess(db, input.processId, login.user.id);
          if (!process || process.expiresAt <= now)
            throw createFailed('AUTHENTICATION_PROCESS_NOT_FOUND', 'authentication process not found');
          throw failed();
        }
        logger.info({ user_id: login.user.id.toString(), device_id: input.deviceId.toString() }, 'session created');
        return { ...tokens.issued, userId: login.user.id, userName: login.user.userName };
      }
      const { userId } = input;
      const issued = await db.transaction().execute(async (trx) => {
        const consumed = await consumeDoneProcess(trx, { id: input.processId, userId, transactionType: 'LOGIN', now });
        if (!consumed) {
          const process = await findProcess(trx, input.processId, userId);
          if (!process || process.expiresAt <= now)
            throw createFailed('AUTHENTICATION_PROCESS_NOT_FOUND', 'authentication process not found');
          throw failed();
        }
        // The user row is locked before the session is written: a concurrent block (which revokes
        // the user's sessions) either comes after and revokes this one, or before and refuses it.
        const user = await findUserById(trx, userId, { forUpdate: true });
        if (user?.status !== 'ACTIVATED' || input.deviceId === 0n || user.deviceId !== input.deviceId) throw failed();
        const tokens = await issue(trx, {
          userId: user.id,
          deviceId: input.deviceId,
          familyId: newFamilyId(),
          familyExpiresAt: new Date(now.getTime() + deps.refreshFamilyTtlMs),
          now,
        });
        return { ...tokens, userId: user.id, userName: user.userName };
      });
      logger.info({ user_id: issued.userId.toString(), device_id: input.deviceId.toString() }, 'session created');
      return issued;
    },

    /**
     * Spends the refresh token and issues the next pair in its family. The row is locked, so of
     * concurrent rotations with one token the first wins and the others see a spent token. A
     * spent token, or a live one from another device, revokes the whole family. Every refusal is
     * INVALID_LOGIN_SESSION.
     */
    async rotateSession(input: { refreshToken: string; deviceId: bigint }): Promise<IssuedSession> {
      const invalid = () => rotateFailed('INVALID_LOGIN_SESSION', 'invalid login session');
      if (typeof input.refreshToken !== 'string' || input.refreshToken === '' || input.refreshToken.length > MAX_TOKEN_CHARS)
        throw invalid();
      const now = clock();
      const outcome = await db.transaction().execute(async (trx) => {
        const session = await lockSessionByRefreshHash(trx, tokenHash(input.refreshToken));
        if (!session || session.revokedAt !== null || session.familyExpiresAt <= now) return { refused: 'unknown' as const };
        if (session.rotatedAt !== null || session.deviceId !== input.deviceId) {
          // Committed before the refusal is thrown: the revocation must outlive this call.
          const revoked = await revokeSessionFamily(
            trx,
            session.familyId,
            session.rotatedAt !== null ? 'refresh token reused' : 'refresh token from another device',
            now,
          );
          return {
            refused: session.rotatedAt !== null ? ('reused' as const) : ('other-device' as const),
            userId: session.userId,
            deviceId: session.deviceId,
            revoked,
          };
        }
        const user = await findUserById(trx, session.userId);
        if (user?.status !== 'ACTIVATED' || user.deviceId !== session.deviceId) return { refused: 'user' as const };
        await markSessionRotated(trx, session.id, now);
        const issued = await issue(trx, {
          userId: session.userId,
          deviceId: session.deviceId,
          familyId: session.familyId,
          familyExpiresAt: session.familyExpiresAt,
          now,
        });
        return { issued, userId: session.userId };
      });
      if ('refused' in outcome) {
        if (outcome.refused === 'reused' || outcome.refused === 'other-device') {
          logger.warn(
            {
              user_id: outcome.userId.toString(),
              device_id: input.deviceId.toString(),
              why: outcome.refused,
              sessions_revoked: outcome.revoked,
            },
            'session family revoked',
          );
          // The family's sessions are all on its device; streams there re-check theirs.
          await deps.revocations.sessionsRevoked(outcome.userId, outcome.deviceId);
        }
        throw invalid();
      }
      logger.info({ user_id: outcome.userId.toString(), device_id: input.deviceId.toString() }, 'session rotated');
      return outcome.issued;
    },

    /**
     * Ends the user's sessions on one device, or on all (deviceId 0); with `sessionId` only that
     * login's, with `keepSessionId` all but that login's. Returns how many. Every revocation of
     * sessions goes through here, so whatever must follow one (ending notification streams) is
     * done in one place.
     */
    async revokeSessions(input: {
      userId: bigint;
      deviceId: bigint;
      reason: string;
      sessionId?: string;
      keepSessionId?: string;
    }): Promise<number> {
      const reason = input.reason.trim() === '' ? 'revoked' : input.reason.slice(0, 256);
      const families =
        input.sessionId !== undefined && input.sessionId !== ''
          ? { familyId: input.sessionId.slice(0, MAX_SESSION_ID_CHARS) }
          : input.keepSessionId !== undefined && input.keepSessionId !== ''
            ? { exceptFamilyId: input.keepSessionId.slice(0, MAX_SESSION_ID_CHARS) }
            : {};
      const deviceId = input.deviceId === 0n ? null : input.deviceId;
      const revoked = await revokeUserSessions(db, input.userId, deviceId, reason, clock(), families);
      // One session ended is announced for the whole user (or device): each stream re-checks its
      // own session, so only the streams of the ended sessions close.
      await deps.revocations.sessionsRevoked(input.userId, deviceId);
      logger.info(
        { user_id: input.userId.toString(), device_id: input.deviceId.toString(), sessions_revoked: revoked },
        'sessions revoked',
      );
      return revoked;
    },

    /** The user's live logins, newest first. */
    async listSessions(userId: bigint): Promise<LiveLogin[]> {
      return listLiveLogins(db, userId, clock(), MAX_LISTED_LOGINS);
    },

    /** The login (session id) a live session token belongs to. */
    async findSessionId(sessionToken: string): Promise<string> {
      const found = await this.findBySessionToken(sessionToken).catch(() => {
        throw failWith<FindSessionIdCode>()('LOGIN_SESSION_EXPIRED', 'login session expired');
      });
      return found.session.familyId;
    },

    /**
     * The session a token names and its user. SESSION_TOKEN_REQUIRED for an empty token;
     * LOGIN_SESSION_EXPIRED for unknown, expired, rotated or revoked tokens alike, and for a user
     * who is no longer ACTIVATED or has moved to another device.
     */
    async findBySessionToken(sessionToken: string): Promise<ResolvedSession> {
      if (typeof sessionToken !== 'string' || sessionToken === '') throw findFailed('SESSION_TOKEN_REQUIRED', 'session token is required');
      const expired = () => findFailed('LOGIN_SESSION_EXPIRED', 'login session expired');
      if (sessionToken.length > MAX_TOKEN_CHARS) throw expired();
      const found = await findLiveSession(db, tokenHash(sessionToken), clock());
      if (!found) throw expired();
      if (found.user.status !== 'ACTIVATED' || found.user.deviceId !== found.session.deviceId) throw expired();
      return found;
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
