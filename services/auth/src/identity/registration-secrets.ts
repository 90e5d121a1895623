import { checkPattern, checkPin, type PatternCheckResult, type PinCheckResult } from '@kfrm/credentials';
import { openEncryptedText } from '@kfrm/e2e-crypto';
import { failWith } from '@kfrm/errors';
import type { EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { E2eCode, IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { SecretKind } from './identity.table';
import { openRegistration, type RegistrationAccessCode, requireAgreed, type RegistrationAccessDeps } from './registration-access';

/** RegisterPin (`'pin'`) / RegisterPattern (`'pattern'`): the rules' verdicts besides the registration's codes. */
export type RegisterSecretCode<K extends SecretKind = SecretKind> =
  | RegistrationAccessCode
  | E2eCode
  | Exclude<{ pin: PinCheckResult; pattern: PatternCheckResult }[K], 'ok'>;
/** ConfirmPin / ConfirmPattern. */
export type ConfirmSecretCode<K extends SecretKind = SecretKind> =
  | RegistrationAccessCode
  | E2eCode
  | { pin: 'USER_PIN_MISMATCH'; pattern: 'USER_PATTERN_MISMATCH' }[K];

export type RegistrationSecretDeps = RegistrationAccessDeps & Pick<IdentityDeps, 'e2e' | 'hasher'>;

/** RegisterPin / RegisterPattern: the checked value is kept only as a pending hash. */
export async function registerSecret(
  deps: RegistrationSecretDeps,
  kind: SecretKind,
  userToken: string,
  deviceId: bigint,
  message: EncryptedMessage | undefined,
) {
  const { db } = deps;
  const { user, userId } = await openRegistration(deps, userToken, deviceId);
  requireAgreed(user);
  const secret = await openEncryptedText(deps.e2e, message, 'AUTH');
  const verdict = kind === 'pin' ? checkPin(secret, { phoneNumber: user.phoneNumber }) : checkPattern(secret);
  if (verdict !== 'ok') {
    const what = kind === 'pin' ? 'PIN' : 'pattern';
    throw failWith<RegisterSecretCode>()(
      verdict,
      verdict.startsWith('WEAK') ? `the ${what} is too easy to guess` : `the ${what} is not valid`,
    );
  }
  await repo.setPendingSecret(db, userId, kind, await deps.hasher.hashSecret(secret));
}

/** ConfirmPin / ConfirmPattern: a match against the pending hash makes it the credential. */
export async function confirmSecret(
  deps: RegistrationSecretDeps,
  kind: SecretKind,
  userToken: string,
  deviceId: bigint,
  message: EncryptedMessage | undefined,
) {
  const { db } = deps;
  const { userId } = await openRegistration(deps, userToken, deviceId);
  const secret = await openEncryptedText(deps.e2e, message, 'AUTH');
  const registration = await repo.findRegistration(db, userId);
  const pending = kind === 'pin' ? registration?.pending_pin_hash : registration?.pending_pattern_hash;
  const code = kind === 'pin' ? 'USER_PIN_MISMATCH' : 'USER_PATTERN_MISMATCH';
  const matches = pending ? await deps.hasher.verifySecret(pending, secret) : await deps.hasher.dummyVerify();
  if (!pending || !matches)
    throw failWith<ConfirmSecretCode>()(code, `the ${kind === 'pin' ? 'PIN' : 'pattern'} does not match the one registered`);
  await db.transaction().execute((tx) => repo.confirmSecret(tx, userId, kind, pending));
}
