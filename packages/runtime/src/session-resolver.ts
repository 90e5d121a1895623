import { status } from '@grpc/grpc-js';
import { DependencyUnavailableError, UpstreamRefusal } from '@kfrm/errors';
import { FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode, UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { apiErrorType, type DeviceIdentity } from '@kfrm/server-kit';
import { grpcStatusOf, unaryCall } from './internal-calls';
import type { InternalClients } from './internal-clients';
import type { ResolvedSession } from './session-cache';

/**
 * Answers that mean "no live session": every seed code of FindBySessionToken (token missing,
 * session expired, user gone), or one of these statuses without a code. The guard turns them
 * into UNAUTHENTICATED.
 */
const NO_SESSION = new Set([status.NOT_FOUND, status.UNAUTHENTICATED, status.INVALID_ARGUMENT]);
const findErrors = apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode);

/** UNAVAILABLE: a session that cannot be checked is never treated as valid. */
export class SessionLookupUnavailableError extends DependencyUnavailableError {
  override name = 'SessionLookupUnavailableError';
}

/**
 * The mobile guard's "session" level: the session token from `authorization: Bearer …` is
 * resolved by the user service's FindBySessionToken, and the session must belong to the device
 * whose certificate the call came with.
 */
export function createSessionResolver(clients: InternalClients, timeoutMs = 3_000) {
  return async (token: string, device: DeviceIdentity): Promise<ResolvedSession | undefined> => {
    let response;
    try {
      response = await unaryCall(
        clients.get(UserServiceClient),
        'findBySessionToken',
        { sessionToken: token },
        { errors: findErrors, timeoutMs },
      );
    } catch (err) {
      if (err instanceof UpstreamRefusal || NO_SESSION.has(grpcStatusOf(err) ?? status.UNKNOWN)) return undefined;
      throw new SessionLookupUnavailableError('session lookup failed', { cause: err });
    }
    const session = response.userSession;
    if (!session || String(session.deviceId) !== device.deviceId) return undefined;
    const expiresAt = session.expiredAt === '' ? undefined : new Date(session.expiredAt);
    return {
      userId: String(session.userId),
      deviceId: String(session.deviceId),
      sessionToken: token,
      // An unreadable time is no bound: the cache then keeps the session for its staleness bound only.
      expiresAt: expiresAt && !Number.isNaN(expiresAt.getTime()) ? expiresAt : undefined,
    };
  };
}
