/** The accounts a transfer names: the caller's own source, and the target's holder. */
import { isWellFormedAccountNumber, isWellFormedInstitutionCode, maskName } from './canonical';
import { findInstitution, OWN_INSTITUTION_CODE } from './institutions';
import type { InterbankDirectory } from './interbank-directory';
import { sourceFailed, targetFailed } from './transfer-errors';
import type { Holder, LedgerPort, TargetAccount, UserPort } from './upstream';

export interface AccountLookupDeps {
  ledger: LedgerPort;
  users: UserPort;
  interbank: InterbankDirectory;
}

export type Target =
  | { ok: true; holderName: string; ownerUserId: string | null }
  | { ok: false; code: 'NOT_VALID_ACCOUNT' | 'BLOCKED_ACCOUNT' };

export async function resolveTarget(deps: AccountLookupDeps, institutionCode: string, accountNumber: string): Promise<Target> {
  if (!isWellFormedAccountNumber(accountNumber)) return { ok: false, code: 'NOT_VALID_ACCOUNT' };
  if (institutionCode === OWN_INSTITUTION_CODE) return (await ownTarget(deps, await deps.ledger.getTransferTarget(accountNumber))).target;
  return interbankTarget(deps, institutionCode, accountNumber);
}

/**
 * One of our accounts as a target, already read from the ledger (undefined: none): whether its
 * holder receives, and the holder's name (unmasked, for whoever needs it besides the target).
 */
export async function ownTarget(
  deps: Pick<AccountLookupDeps, 'users'>,
  account: TargetAccount | undefined,
): Promise<{ target: Target; holderName?: string }> {
  if (account?.currency !== 'KRW') return { target: { ok: false, code: 'NOT_VALID_ACCOUNT' } };
  const holder = await deps.users.findHolder(account.ownerUserId);
  return { target: holderTarget(holder, account.ownerUserId), holderName: holder?.name };
}

/**
 * One of our accounts as a target, from its holder as read (null or undefined: no such user).
 * Only an ACTIVATED member receives (docs/design.md, "Member and account standing").
 */
export function holderTarget(holder: Holder | null | undefined, ownerUserId: string): Target {
  if (!holder || holder.standing === 'OTHER') return { ok: false, code: 'NOT_VALID_ACCOUNT' };
  if (holder.standing === 'BLOCKED') return { ok: false, code: 'BLOCKED_ACCOUNT' };
  return { ok: true, holderName: maskName(holder.name), ownerUserId };
}

/** Another institution's account, through the interbank directory. */
export async function interbankTarget(
  deps: Pick<AccountLookupDeps, 'interbank'>,
  institutionCode: string,
  accountNumber: string,
): Promise<Target> {
  const found = await deps.interbank.lookup(institutionCode, accountNumber);
  return found.ok ? { ok: true, holderName: maskName(found.holderName), ownerUserId: null } : { ok: false, code: found.reason };
}

/** The user's own account; another user's or an unknown one: INVALID_SOURCE_ACCOUNT alike. */
export async function findSourceAccount(deps: Pick<AccountLookupDeps, 'ledger'>, userId: string, accountNumber: string) {
  const account = isWellFormedAccountNumber(accountNumber) ? await deps.ledger.getAccountForOwner(userId, accountNumber) : undefined;
  // A closed account sends nothing (its statement is read through AccountService).
  if (!account || account.closed) throw sourceFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
  return account;
}

/** The target's holder, masked (홍*동): our accounts through the ledger, others through the interbank directory. */
export async function findTargetHolder(
  deps: AccountLookupDeps,
  institutionCode: string,
  accountNumber: string,
): Promise<{ accountNumber: string; holderName: string }> {
  if (!isWellFormedInstitutionCode(institutionCode) || !findInstitution(institutionCode))
    throw targetFailed('NOT_VALID_ACCOUNT', 'the account is not valid');
  const target = await resolveTarget(deps, institutionCode, accountNumber);
  if (!target.ok)
    throw targetFailed(target.code, target.code === 'BLOCKED_ACCOUNT' ? 'the account is blocked' : 'the account is not valid');
  return { accountNumber, holderName: target.holderName };
}
