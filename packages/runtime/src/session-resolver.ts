import { status, type ServiceError } from '@grpc/grpc-js';
import { DependencyUnavailableError } from '@kfrm/errors';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { DeviceIdentity, SessionIdentity } from '@kfrm/server-kit';
import type { InternalClients } from './internal-clients';

/** Answers that mean "no live session": the guard turns them into UNAUTHENTICATED. */
const NO_SESSION = new Set([status.NOT_FOUND, status.UNAUTHENTICATED, status.INVALID_ARGUMENT]);

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
  return (token: string, device: DeviceIdentity): Promise<SessionIdentity | undefined> => {
    const users = clients.get(UserServiceClient);
    return new Promise((resolve, reject) => {
      users.findBySessionToken({ sessionToken: token }, { deadline: Date.now() + timeoutMs } as never, (err: ServiceError | null, response) => {
        if (err) {
          if (NO_SESSION.has(err.code)) return resolve(undefined);
          return reject(new SessionLookupUnavailableError('session lookup failed', { cause: err }));
        }
        const session = response.userSession;
        if (!session || String(session.deviceId) !== device.deviceId) return resolve(undefined);
        resolve({ userId: String(session.userId), deviceId: String(session.deviceId), sessionToken: token });
      });
    });
  };
}
