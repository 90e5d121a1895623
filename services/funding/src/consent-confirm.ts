/**
 * Use case: confirm a signed consent. VerifyCMS is called only after claiming the consent
 * (→ VERIFYING), never twice blindly: a lost answer makes the consent VERIFY_UNKNOWN, and the
 * next call asks GetCMSState first (docs/reliability.md item 9).
 */
import { KakaocertError, KakaocertTransportError, signedDataFingerprint } from '@kfrm/kakaocert';
import { consentErrorsOf } from './consent-errors';
import { logConsent, moveConsent, ownedConsent, refreshConsent, type ConsentStateDeps, type OwnedConsentCode } from './consent-state';
import { fundingErrorsOf, type AdapterCodes } from './external-errors';
import {
  completeVerification,
  findConsent,
  findLinkedAccount,
  transitionConsent,
  type ConsentRow,
  type LinkedAccountRow,
} from './funding.repository';

export interface ConfirmedConsent {
  consent: ConsentRow;
  account: LinkedAccountRow;
}

/** The seed codes `confirmAutoDebitConsent` raises: the consent's state, and kakaoCert's answers. */
export type ConfirmAutoDebitConsentCode =
  | OwnedConsentCode
  | 'CONSENT_NOT_SIGNED'
  | 'CONSENT_EXPIRED'
  | 'CONSENT_REQUEST_FAILED'
  | 'CONSENT_VERIFICATION_IN_PROGRESS'
  | 'CONSENT_EVIDENCE_LOST'
  | 'CONSENT_EVIDENCE_INVALID'
  | 'OUTCOME_UNKNOWN'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

const CONFIRM_ERRORS: AdapterCodes<ConfirmAutoDebitConsentCode> = [
  'OUTCOME_UNKNOWN',
  'EXTERNAL_SERVICE_UNAVAILABLE',
  'EXTERNAL_SERVICE_FAILED',
];
const consentFailed = consentErrorsOf<ConfirmAutoDebitConsentCode>();
const fundingError = fundingErrorsOf<ConfirmAutoDebitConsentCode>();
const NOT_SIGNED = () => consentFailed('CONSENT_NOT_SIGNED');
const EXPIRED = () => consentFailed('CONSENT_EXPIRED');
const REQUEST_FAILED = () => consentFailed('CONSENT_REQUEST_FAILED');
const IN_PROGRESS = () => consentFailed('CONSENT_VERIFICATION_IN_PROGRESS');
const EVIDENCE_LOST = () => consentFailed('CONSENT_EVIDENCE_LOST');
const EVIDENCE_INVALID = () => consentFailed('CONSENT_EVIDENCE_INVALID');

/** The one VerifyCMS call for a consent this caller moved to VERIFYING. */
async function verifyOnce(deps: ConsentStateDeps, claimed: ConsentRow): Promise<ConfirmedConsent> {
  const { db, log, now } = deps;
  let evidence;
  try {
    evidence = await deps.consents.verifyConsent(claimed.receiptId!);
  } catch (err) {
    if (err instanceof KakaocertTransportError && !err.maybeReachedServer) {
      // Never left this process: nothing was consumed at kakaoCert.
      await moveConsent(deps, claimed, ['VERIFYING'], { state: 'SIGNED', verifyStartedAt: null, failure: 'VERIFY_NOT_SENT' });
      throw fundingError('EXTERNAL_SERVICE_UNAVAILABLE', err);
    }
    if (err instanceof KakaocertError) {
      // A definite refusal did not consume the receipt by this call; GetCMSState says why
      // (expired, verified elsewhere). Until that is known the consent stays VERIFY_UNKNOWN.
      const unknown = await moveConsent(deps, claimed, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: `VERIFY_REFUSED_${err.code}` });
      const reconciled = await refreshConsent<ConfirmAutoDebitConsentCode>(deps, unknown, CONFIRM_ERRORS).catch(() => unknown);
      if (reconciled.state === 'EXPIRED') throw EXPIRED();
      if (reconciled.state === 'EVIDENCE_LOST') throw EVIDENCE_LOST();
      throw fundingError('EXTERNAL_SERVICE_FAILED', err);
    }
    // Timeout, reset, unreadable answer: kakaoCert may have handed out the evidence.
    const unknown = await moveConsent(deps, claimed, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: 'VERIFY_OUTCOME_UNKNOWN' });
    log.warn(
      { consent_id: unknown.id, receipt_id: unknown.receiptId, err },
      'VerifyCMS outcome unknown; reconciled by GetCMSState on the next call',
    );
    throw fundingError('OUTCOME_UNKNOWN', err);
  }
  // Evidence for KFTC only if it is what it claims: a valid CMS signature, by a signer the trust
  // anchor issued, over exactly the consent we requested. Otherwise nothing is kept or linked.
  const check = claimed.expectedSignedContent
    ? await deps.consents.checkEvidence(evidence, claimed.expectedSignedContent)
    : ({ ok: false, reason: 'content_mismatch', detail: 'no-expected-content' } as const);
  if (!check.ok) {
    const refused = await moveConsent(deps, claimed, ['VERIFYING'], {
      state: 'EVIDENCE_INVALID',
      failure: `EVIDENCE_${check.reason.toUpperCase()}`,
    });
    log.error(
      { consent_id: refused.id, reason: check.reason, detail: check.detail, ...signedDataFingerprint(evidence.signedData) },
      'consent evidence refused; nothing stored',
    );
    throw EVIDENCE_INVALID();
  }
  // Saved before anything is acknowledged: the evidence cannot be fetched a second time.
  const done = await completeVerification(db, claimed, { signedData: evidence.signedData, der: evidence.der, verifiedAt: now() }, now());
  if (!done) {
    // Someone moved the consent while we verified (a stale-claim takeover): keep nothing silent.
    log.error({ consent_id: claimed.id, ...signedDataFingerprint(evidence.signedData) }, 'verified consent was no longer VERIFYING');
    throw IN_PROGRESS();
  }
  logConsent(deps, done.consent, 'consent verified; account linked', {
    ...signedDataFingerprint(evidence.signedData),
    der_bytes: evidence.der.byteLength,
  });
  return done;
}

/**
 * Verifies a signed consent once, stores its evidence and links the account. A VERIFIED
 * consent answers again without calling kakaoCert; VERIFY_UNKNOWN is reconciled first.
 */
export async function confirmAutoDebitConsent(deps: ConsentStateDeps, userId: string, consentId: string): Promise<ConfirmedConsent> {
  const { db, now } = deps;
  let consent = await ownedConsent(deps, userId, consentId);
  if (consent.state === 'VERIFIED') {
    const account = await findLinkedAccount(db, userId, consent.linkedAccountId);
    return { consent, account: account! };
  }
  consent = await refreshConsent<ConfirmAutoDebitConsentCode>(deps, consent, CONFIRM_ERRORS);
  switch (consent.state) {
    case 'VERIFIED': {
      const account = await findLinkedAccount(db, userId, consent.linkedAccountId);
      return { consent, account: account! };
    }
    case 'REQUESTING':
    case 'REQUESTED':
      throw NOT_SIGNED();
    case 'EXPIRED':
      throw EXPIRED();
    case 'REQUEST_FAILED':
      throw REQUEST_FAILED();
    case 'EVIDENCE_LOST':
      throw EVIDENCE_LOST();
    case 'EVIDENCE_INVALID':
      throw EVIDENCE_INVALID();
    case 'VERIFYING':
      throw IN_PROGRESS();
    case 'VERIFY_UNKNOWN':
      // refresh could not decide; stays unknown (never verify blindly).
      throw fundingError('OUTCOME_UNKNOWN');
    case 'SIGNED':
      break;
  }
  const claimed = await transitionConsent(db, consent.id, ['SIGNED'], { state: 'VERIFYING', verifyStartedAt: now() }, now());
  if (!claimed) {
    // Another call claimed it first.
    const current = (await findConsent(db, userId, consent.id))!;
    if (current.state === 'VERIFIED') {
      const account = await findLinkedAccount(db, userId, current.linkedAccountId);
      return { consent: current, account: account! };
    }
    throw IN_PROGRESS();
  }
  return verifyOnce(deps, claimed);
}
