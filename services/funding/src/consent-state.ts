/**
 * The consent state steps every consent use case shares: find the caller's consent, move it
 * (one statement, so a crash between steps leaves a state the next call resumes from), and bring
 * it up to date with kakaoCert.
 */
import type { SeedCode } from '@kfrm/errors';
import type { CmsConsentStatus } from '@kfrm/kakaocert';
import { consentErrorsOf } from './consent-errors';
import { fromKakaocert, type AdapterCodes } from './external-errors';
import type { FundingContext } from './funding.context';
import { findConsent, transitionConsent, type ConsentRow } from './funding.repository';
import type { ConsentState } from './funding.table';

/** What reading and moving a consent needs; the consent use cases take at least this. */
export type ConsentStateDeps = Pick<FundingContext, 'db' | 'log' | 'now' | 'consents' | 'verifyingStaleAfterMs' | 'requestingStaleAfterMs'>;

export function logConsent(deps: Pick<FundingContext, 'log'>, consent: ConsentRow, msg: string, extra: Record<string, unknown> = {}): void {
  deps.log.info(
    { consent_id: consent.id, receipt_id: consent.receiptId, linked_account_id: consent.linkedAccountId, state: consent.state, ...extra },
    msg,
  );
}

/** Moves a consent; when another caller moved it first, returns its current row. */
export async function moveConsent(
  deps: Pick<FundingContext, 'db' | 'log' | 'now'>,
  consent: ConsentRow,
  from: readonly ConsentState[],
  update: Parameters<typeof transitionConsent>[3],
): Promise<ConsentRow> {
  const moved = await transitionConsent(deps.db, consent.id, from, update, deps.now());
  if (moved) {
    if (moved.state !== consent.state)
      logConsent(deps, moved, 'consent state changed', { from: consent.state, failure: update.failure ?? undefined });
    return moved;
  }
  return (await findConsent(deps.db, consent.userId, consent.id)) ?? consent;
}

async function providerState<Declared extends SeedCode>(
  deps: Pick<FundingContext, 'consents'>,
  receiptId: string,
  allowed: AdapterCodes<Declared>,
): Promise<CmsConsentStatus> {
  try {
    return await deps.consents.getConsentState(receiptId);
  } catch (err) {
    throw fromKakaocert<Declared>(err, allowed);
  }
}

/**
 * Brings a consent up to date with kakaoCert without verifying it: REQUESTED becomes SIGNED or
 * EXPIRED; VERIFY_UNKNOWN becomes EVIDENCE_LOST when kakaoCert shows it verified, EXPIRED when
 * it expired unsigned, SIGNED when the lost VerifyCMS never happened (safe to verify again).
 * A crashed VERIFYING becomes VERIFY_UNKNOWN first; a crashed REQUESTING, REQUEST_FAILED.
 */
export async function refreshConsent<Declared extends SeedCode = never>(
  deps: ConsentStateDeps,
  consent: ConsentRow,
  allowed: NoInfer<AdapterCodes<Declared>>,
): Promise<ConsentRow> {
  const age = deps.now().getTime() - consent.updatedAt.getTime();
  if (consent.state === 'REQUESTING' && age > deps.requestingStaleAfterMs) {
    return moveConsent(deps, consent, ['REQUESTING'], { state: 'REQUEST_FAILED', failure: 'CRASHED_WHILE_REQUESTING' });
  }
  if (consent.state === 'VERIFYING' && age > deps.verifyingStaleAfterMs) {
    consent = await moveConsent(deps, consent, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: 'CRASHED_WHILE_VERIFYING' });
  }
  if (consent.state !== 'REQUESTED' && consent.state !== 'SIGNED' && consent.state !== 'VERIFY_UNKNOWN') return consent;
  const status = await providerState<Declared>(deps, consent.receiptId!, allowed);
  if (status.verifiedAt) {
    // Verified at kakaoCert while we hold no evidence: it cannot be fetched again.
    return moveConsent(deps, consent, [consent.state], {
      state: 'EVIDENCE_LOST',
      signedAt: status.signedAt ?? consent.signedAt,
      failure: 'VERIFIED_WITHOUT_EVIDENCE',
    });
  }
  switch (status.state) {
    case 'signed':
      return consent.state === 'SIGNED'
        ? consent
        : moveConsent(deps, consent, [consent.state], { state: 'SIGNED', signedAt: status.signedAt ?? deps.now() });
    case 'expired':
      return moveConsent(deps, consent, [consent.state], { state: 'EXPIRED' });
    case 'pending':
      return consent.state === 'REQUESTED' ? consent : moveConsent(deps, consent, [consent.state], { state: 'REQUESTED' });
    default:
      // rejected / failed exist at Barocert only.
      return moveConsent(deps, consent, [consent.state], { state: 'REQUEST_FAILED', failure: `PROVIDER_${status.state.toUpperCase()}` });
  }
}

/** The seed code `ownedConsent` raises. */
export type OwnedConsentCode = 'CONSENT_NOT_FOUND';

const NOT_FOUND = () => consentErrorsOf<OwnedConsentCode>()('CONSENT_NOT_FOUND');

/** The caller's consent; another user's reads as not found, so consent ids reveal nothing. */
export async function ownedConsent(deps: Pick<FundingContext, 'db'>, userId: string, consentId: string): Promise<ConsentRow> {
  if (!consentId || consentId.length > 64) throw NOT_FOUND();
  const consent = await findConsent(deps.db, userId, consentId);
  if (!consent) throw NOT_FOUND();
  return consent;
}
