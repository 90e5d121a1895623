import { InvalidArgumentError, isDomainError } from '@kfrm/errors';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import * as repo from './identity.repository';
import { openRegistration, type RegistrationAccessCode, type RegistrationAccessDeps } from './registration-access';
import type { DirectoryCode } from './user-directory';

export type ListTermsCode = RegistrationAccessCode;
/** A USER_STATUS_CONFLICT from UpdateUserStatus is a concurrent AgreeTerms: not an error. */
export type AgreeTermsCode = RegistrationAccessCode | Exclude<DirectoryCode['updateUserStatus'], 'USER_STATUS_CONFLICT'>;

export type TermsDeps = RegistrationAccessDeps;

export async function listTerms(deps: TermsDeps, userToken: string, deviceId: bigint) {
  const { db } = deps;
  await openRegistration(deps, userToken, deviceId);
  return repo.listActiveTerms(db);
}

/** Every mandatory term must be agreed; the first agreement moves the user CREATED → AGREED. */
export async function agreeTerms(deps: TermsDeps, userToken: string, deviceId: bigint, agreements: { termId: bigint; agreed: boolean }[]) {
  const { db, users } = deps;
  const { user, userId } = await openRegistration(deps, userToken, deviceId);
  const terms = await repo.listActiveTerms(db);
  const known = new Set(terms.map((t) => t.id));
  for (const a of agreements) if (!known.has(String(a.termId))) throw new InvalidArgumentError(`unknown term ${a.termId}`);
  const agreed = new Set(agreements.filter((a) => a.agreed).map((a) => String(a.termId)));
  const missing = terms.filter((t) => t.mandatory && !agreed.has(t.id));
  if (missing.length > 0) throw new InvalidArgumentError('every mandatory term must be agreed');
  await repo.saveAgreements(
    db,
    userId,
    agreements.map((a) => ({ termId: String(a.termId), agreed: a.agreed })),
  );
  if (user.userStatus === UserStatus.CREATED) {
    await users.updateUserStatus(userId, UserStatus.CREATED, UserStatus.AGREED, 'terms agreed').catch((err: unknown) => {
      // A concurrent AgreeTerms already moved the user on.
      if (!isDomainError(err, 'USER_STATUS_CONFLICT')) throw err;
    });
  }
}
