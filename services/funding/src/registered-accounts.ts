/** Use case: what Konaplate holds for the user next to the accounts linked here. */
import type { RegisteredBankAccount } from '@kfrm/konaplate';
import { fromKonaplate } from './external-errors';
import type { FundingContext } from './funding.context';
import { knownKonaplateMemberId } from './konaplate-member';
import { listLinkedAccounts, type LinkedAccountRow } from './funding.repository';

/** The seed codes `listRegisteredAccounts` raises: Konaplate's answers. */
export type ListRegisteredAccountsCode = 'BANK_UNAVAILABLE' | 'EXTERNAL_SERVICE_UNAVAILABLE' | 'EXTERNAL_SERVICE_FAILED';

export interface RegisteredAccounts {
  normal?: RegisteredBankAccount;
  auto?: RegisteredBankAccount;
  autoRegistrationAllowed: boolean;
  linked: LinkedAccountRow[];
}

export async function listRegisteredAccounts(deps: Pick<FundingContext, 'db' | 'konaplate'>, userId: string): Promise<RegisteredAccounts> {
  const memberId = await knownKonaplateMemberId(deps, userId);
  // Not a Konaplate member yet (no holder was ever verified): Konaplate holds nothing for them.
  if (memberId === undefined) return { autoRegistrationAllowed: false, linked: await listLinkedAccounts(deps.db, userId) };
  let inquiry;
  try {
    inquiry = await deps.konaplate.inquireBankAccounts({ userId: memberId });
  } catch (err) {
    throw fromKonaplate<ListRegisteredAccountsCode>(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
  }
  return {
    normal: inquiry.bankAccForNormalRcg,
    auto: inquiry.bankAccForAutoRcg,
    autoRegistrationAllowed: inquiry.isAutoRcgAccRegAllowed,
    linked: await listLinkedAccounts(deps.db, userId),
  };
}
