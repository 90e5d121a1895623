/**
 * Automatic top-up for transfers (issue 15): when a transfer needs more than the balance and the
 * user registered a linked bank account for automatic top-up, the funding service tops up the
 * shortfall (within its daily top-up limit) before the ledger posts the transfer. The funding
 * service is a port (upstream.ts); without it (or when it cannot answer) a short balance is
 * INSUFFICIENT_BALANCE as before — nothing is decided on a guess.
 */
import type { Logger } from '@kfrm/logging';
import type { FundingPort, LedgerPort } from './upstream';

/** Whether an automatic top-up could cover `shortfall` today (pre-check). */
export async function autoTopUpCovers(
  deps: { funding?: FundingPort; logger: Logger },
  userId: string,
  shortfall: bigint,
): Promise<boolean> {
  if (!deps.funding) return false;
  try {
    const remaining = await deps.funding.autoTopUpAllowance(userId);
    return remaining !== undefined && shortfall <= remaining;
  } catch (err) {
    deps.logger.warn({ err }, 'funding could not answer the auto top-up allowance; taken as none');
    return false;
  }
}

/**
 * Tops up what the account lacks for `amount`, keyed by the transfer id (a retried Execute asks
 * for the same top-up). True when the money is on the account now; false when there is no
 * automatic top-up, it was refused, or it is still pending at the provider.
 */
export async function topUpShortfall(
  deps: { funding?: FundingPort; ledger: LedgerPort; logger: Logger },
  transfer: { id: string; userId: string; accountNumber: string; amountMinor: bigint },
): Promise<boolean> {
  const { funding, ledger, logger } = deps;
  if (!funding) return false;
  const account = await ledger.getAccountForOwner(transfer.userId, transfer.accountNumber);
  if (!account) return false;
  const shortfall = transfer.amountMinor - account.balanceMinor;
  // Money arrived meanwhile (a pending top-up settled, a deposit): post again as it is.
  if (shortfall <= 0n) return true;
  try {
    const outcome = await funding.autoTopUp({
      userId: transfer.userId,
      accountNumber: transfer.accountNumber,
      amountMinor: shortfall,
      key: transfer.id,
    });
    logger.info({ transfer_id: transfer.id, shortfall: shortfall.toString(), outcome }, 'automatic top-up for a transfer');
    return outcome === 'SETTLED';
  } catch (err) {
    logger.warn({ err, transfer_id: transfer.id }, 'automatic top-up for a transfer failed');
    return false;
  }
}
