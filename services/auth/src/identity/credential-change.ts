import { checkPattern, checkPin, type PatternCheckResult, type PinCheckResult } from '@kfrm/credentials';
import { openEncryptedText } from '@kfrm/e2e-crypto';
import { failWith, PermissionDeniedError } from '@kfrm/errors';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { authenticationFailed, type Authenticator } from './authentication';
import { throttle, type E2eCode, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { SecretKind } from './identity.table';
import type { SessionCaller } from './session-management';
import type { DirectoryCode } from './user-directory';

/** ChangePin (`'pin'`) / ChangePattern (`'pattern'`). */
export type ChangeSecretCode<K extends SecretKind = SecretKind> =
  | 'AUTHENTICATION_FAILED'
  | { pin: 'USER_PIN_NOT_FOUND'; pattern: 'USER_PATTERN_NOT_FOUND' }[K]
  | Exclude<{ pin: PinCheckResult; pattern: PatternCheckResult }[K], 'ok'>
  | E2eCode
  | DirectoryCode['findSessionId'];

const HOUR_MS = 60 * 60_000;
/** Changes per customer and hour: a change is rare; more is someone trying old secrets. */
const CHANGES_PER_USER_HOUR = 5;
const TYPE = { pin: 'PIN', pattern: 'PATTERN' } as const;

/**
 * Changing a known PIN or pattern on the bound device with a live session. The current secret is
 * checked like any authentication (a wrong one counts towards the lockout that BLOCKs the user);
 * the new one passes the sign-up rules; then it replaces the credential and every other login of
 * the customer is ended (whoever learnt the old secret may have logged in elsewhere).
 */
export function createCredentialChange(deps: IdentityDeps, auth: Authenticator) {
  const { db, users } = deps;

  return {
    async change(
      kind: SecretKind,
      caller: SessionCaller,
      oldMessage: EncryptedMessage | undefined,
      newMessage: EncryptedMessage | undefined,
    ) {
      const { userId } = caller;
      await throttle(deps.store, `credential-change:user:${userId}`, CHANGES_PER_USER_HOUR, HOUR_MS);
      const oldSecret = await openEncryptedText(deps.e2e, oldMessage, 'AUTH');
      const newSecret = await openEncryptedText(deps.e2e, newMessage, 'AUTH');
      const user = await users.findByUserId(userId);
      if (!user) throw new PermissionDeniedError('no such user');
      // The new secret is judged first: a typo in it costs no attempt of the old one.
      const verdict = kind === 'pin' ? checkPin(newSecret, { phoneNumber: user.phoneNumber }) : checkPattern(newSecret);
      if (verdict !== 'ok') {
        const what = kind === 'pin' ? 'PIN' : 'pattern';
        throw failWith<ChangeSecretCode>()(
          verdict,
          verdict.startsWith('WEAK') ? `the ${what} is too easy to guess` : `the ${what} is not valid`,
        );
      }
      await auth.verifySecretOnBoundDevice(userId, TYPE[kind], oldSecret, caller.deviceId);
      // A racing wrong attempt that locked the credential wins over the change.
      if (!(await repo.replaceSecret(db, userId, kind, await deps.hasher.hashSecret(newSecret)))) throw authenticationFailed();
      const keep = await users.findSessionId(caller.sessionToken);
      const revoked = await users.revokeOtherSessions(userId, keep, `${kind} changed`);
      deps.logger.info({ user_id: String(userId), kind, sessions_revoked: revoked }, 'credential changed');
    },
  };
}

export type CredentialChange = ReturnType<typeof createCredentialChange>;
