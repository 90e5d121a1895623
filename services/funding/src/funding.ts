/**
 * The funding use cases: verify an account holder, list registered accounts, request, poll and
 * confirm an auto-debit (CMS) consent, and register a linked account for automatic top-up.
 *
 * Rules (docs/reliability.md item 9):
 * - Nothing is stored as linked until the external step succeeded: an account row appears only
 *   after Konaplate verified its holder, and becomes LINKED only in the transaction that stores
 *   the consent's signedData.
 * - Every consent step is a state change in one statement before or after the external call, so
 *   a crash between steps leaves a state the next call resumes from (see consent-state notes).
 * - VerifyCMS is called only after claiming the consent (→ VERIFYING), never twice blindly: a
 *   lost answer makes the consent VERIFY_UNKNOWN, and the next call asks GetCMSState first.
 */
import { randomUUID } from 'node:crypto';
import { DomainError, InvalidArgumentError, type SeedCode } from '@kfrm/errors';
import {
  KakaocertError,
  KakaocertTransportError,
  signedDataFingerprint,
  type CmsConsentProvider,
  type CmsConsentStatus,
} from '@kfrm/kakaocert';
import { SEED_BANK_CODES, type KonaplateClient, type RegisteredBankAccount } from '@kfrm/konaplate';
import { maskAccountNumber, type Logger } from '@kfrm/logging';
import { fromKakaocert, fromKonaplate, fundingError, type FundingErrorCode } from './external-errors';
import {
  completeVerification,
  findConsent,
  findLinkedAccount,
  findLinkedAccountByNumber,
  insertConsent,
  listLinkedAccounts,
  registerAutoTopUp,
  transitionConsent,
  upsertHolderVerified,
  type ConsentRow,
  type FundingDb,
  type LinkedAccountRow,
} from './funding.repository';
import type { ConsentState } from './funding.table';
import type { UserDirectory } from './user-directory';

export type { ConsentRow, LinkedAccountRow } from './funding.repository';

export interface FundingDeps {
  db: FundingDb;
  konaplate: KonaplateClient;
  consents: CmsConsentProvider;
  users: UserDirectory;
  logger: Logger;
  now?: () => Date;
  /** A VERIFYING consent older than this is taken as a crashed verification (VERIFY_UNKNOWN). */
  verifyingStaleAfterMs?: number;
  /** A REQUESTING consent older than this is taken as a crashed request (REQUEST_FAILED). */
  requestingStaleAfterMs?: number;
}

export interface RegisteredAccounts {
  normal?: RegisteredBankAccount;
  auto?: RegisteredBankAccount;
  autoRegistrationAllowed: boolean;
  linked: LinkedAccountRow[];
}

export interface ConfirmedConsent {
  consent: ConsentRow;
  account: LinkedAccountRow;
}

export const DEFAULT_CONSENT_EXPIRES_IN_SECONDS = 300;
const CONSENT_TITLE = '자동충전 출금동의';

const BANK_NAMES = new Map(SEED_BANK_CODES.map((b) => [b.code, b.name]));

function checkAccountInput(bankCode: string, accountNumber: string): void {
  if (!/^\d{3}$/.test(bankCode) || !/^\d{1,20}$/.test(accountNumber)) {
    throw fundingError('INVALID_BANK_ACCOUNT');
  }
}

const consentError = (code: SeedCode, message: string, cause?: unknown) =>
  new DomainError(code, message, cause === undefined ? undefined : { cause });
const NOT_FOUND = () => consentError('CONSENT_NOT_FOUND', 'The consent was not found.');
const NOT_SIGNED = () => consentError('CONSENT_NOT_SIGNED', 'The consent has not been signed yet.');
const EXPIRED = () => consentError('CONSENT_EXPIRED', 'The consent expired before it was signed; request a new one.');
const REQUEST_FAILED = () => consentError('CONSENT_REQUEST_FAILED', 'The consent request failed; request a new one.');
const IN_PROGRESS = () => consentError('CONSENT_VERIFICATION_IN_PROGRESS', 'The consent is being confirmed; try again shortly.');
const EVIDENCE_LOST = () => consentError('CONSENT_EVIDENCE_LOST', 'The signed consent could not be retrieved; request a new one.');

export function createFunding(deps: FundingDeps) {
  const { db, konaplate, consents, users } = deps;
  const now = deps.now ?? (() => new Date());
  const verifyingStaleAfterMs = deps.verifyingStaleAfterMs ?? 60_000;
  const requestingStaleAfterMs = deps.requestingStaleAfterMs ?? 60_000;
  const log = deps.logger;

  const logConsent = (consent: ConsentRow, msg: string, extra: Record<string, unknown> = {}) =>
    log.info(
      { consent_id: consent.id, receipt_id: consent.receiptId, linked_account_id: consent.linkedAccountId, state: consent.state, ...extra },
      msg,
    );

  /** Moves a consent; when another caller moved it first, returns its current row. */
  async function move(
    consent: ConsentRow,
    from: readonly ConsentState[],
    update: Parameters<typeof transitionConsent>[3],
  ): Promise<ConsentRow> {
    const moved = await transitionConsent(db, consent.id, from, update, now());
    if (moved) {
      if (moved.state !== consent.state)
        logConsent(moved, 'consent state changed', { from: consent.state, failure: update.failure ?? undefined });
      return moved;
    }
    return (await findConsent(db, consent.userId, consent.id)) ?? consent;
  }

  async function providerState(receiptId: string, allowed: readonly FundingErrorCode[]): Promise<CmsConsentStatus> {
    try {
      return await consents.getConsentState(receiptId);
    } catch (err) {
      throw fromKakaocert(err, allowed);
    }
  }

  /**
   * Brings a consent up to date with kakaoCert without verifying it: REQUESTED becomes SIGNED or
   * EXPIRED; VERIFY_UNKNOWN becomes EVIDENCE_LOST when kakaoCert shows it verified, EXPIRED when
   * it expired unsigned, SIGNED when the lost VerifyCMS never happened (safe to verify again).
   * A crashed VERIFYING becomes VERIFY_UNKNOWN first; a crashed REQUESTING, REQUEST_FAILED.
   */
  async function refresh(consent: ConsentRow, allowed: readonly FundingErrorCode[]): Promise<ConsentRow> {
    const age = now().getTime() - consent.updatedAt.getTime();
    if (consent.state === 'REQUESTING' && age > requestingStaleAfterMs) {
      return move(consent, ['REQUESTING'], { state: 'REQUEST_FAILED', failure: 'CRASHED_WHILE_REQUESTING' });
    }
    if (consent.state === 'VERIFYING' && age > verifyingStaleAfterMs) {
      consent = await move(consent, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: 'CRASHED_WHILE_VERIFYING' });
    }
    if (consent.state !== 'REQUESTED' && consent.state !== 'SIGNED' && consent.state !== 'VERIFY_UNKNOWN') return consent;
    const status = await providerState(consent.receiptId!, allowed);
    if (status.verifiedAt) {
      // Verified at kakaoCert while we hold no evidence: it cannot be fetched again.
      return move(consent, [consent.state], {
        state: 'EVIDENCE_LOST',
        signedAt: status.signedAt ?? consent.signedAt,
        failure: 'VERIFIED_WITHOUT_EVIDENCE',
      });
    }
    switch (status.state) {
      case 'signed':
        return consent.state === 'SIGNED'
          ? consent
          : move(consent, [consent.state], { state: 'SIGNED', signedAt: status.signedAt ?? now() });
      case 'expired':
        return move(consent, [consent.state], { state: 'EXPIRED' });
      case 'pending':
        return consent.state === 'REQUESTED' ? consent : move(consent, [consent.state], { state: 'REQUESTED' });
      default:
        // rejected / failed exist at Barocert only.
        return move(consent, [consent.state], { state: 'REQUEST_FAILED', failure: `PROVIDER_${status.state.toUpperCase()}` });
    }
  }

  async function ownedConsent(userId: string, consentId: string): Promise<ConsentRow> {
    if (!consentId || consentId.length > 64) throw NOT_FOUND();
    const consent = await findConsent(db, userId, consentId);
    if (!consent) throw NOT_FOUND();
    return consent;
  }

  const CONFIRM_ERRORS: readonly FundingErrorCode[] = ['OUTCOME_UNKNOWN', 'EXTERNAL_SERVICE_UNAVAILABLE', 'EXTERNAL_SERVICE_FAILED'];

  /** The one VerifyCMS call for a consent this caller moved to VERIFYING. */
  async function verifyOnce(claimed: ConsentRow): Promise<ConfirmedConsent> {
    let evidence;
    try {
      evidence = await consents.verifyConsent(claimed.receiptId!);
    } catch (err) {
      if (err instanceof KakaocertTransportError && !err.maybeReachedServer) {
        // Never left this process: nothing was consumed at kakaoCert.
        await move(claimed, ['VERIFYING'], { state: 'SIGNED', verifyStartedAt: null, failure: 'VERIFY_NOT_SENT' });
        throw fundingError('EXTERNAL_SERVICE_UNAVAILABLE', err);
      }
      if (err instanceof KakaocertError) {
        // A definite refusal did not consume the receipt by this call; GetCMSState says why
        // (expired, verified elsewhere). Until that is known the consent stays VERIFY_UNKNOWN.
        const unknown = await move(claimed, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: `VERIFY_REFUSED_${err.code}` });
        const reconciled = await refresh(unknown, CONFIRM_ERRORS).catch(() => unknown);
        if (reconciled.state === 'EXPIRED') throw EXPIRED();
        if (reconciled.state === 'EVIDENCE_LOST') throw EVIDENCE_LOST();
        throw fundingError('EXTERNAL_SERVICE_FAILED', err);
      }
      // Timeout, reset, unreadable answer: kakaoCert may have handed out the evidence.
      const unknown = await move(claimed, ['VERIFYING'], { state: 'VERIFY_UNKNOWN', failure: 'VERIFY_OUTCOME_UNKNOWN' });
      log.warn(
        { consent_id: unknown.id, receipt_id: unknown.receiptId, err },
        'VerifyCMS outcome unknown; reconciled by GetCMSState on the next call',
      );
      throw fundingError('OUTCOME_UNKNOWN', err);
    }
    // Saved before anything is acknowledged: the evidence cannot be fetched a second time.
    const done = await completeVerification(db, claimed, { signedData: evidence.signedData, der: evidence.der, verifiedAt: now() }, now());
    if (!done) {
      // Someone moved the consent while we verified (a stale-claim takeover): keep nothing silent.
      log.error({ consent_id: claimed.id, ...signedDataFingerprint(evidence.signedData) }, 'verified consent was no longer VERIFYING');
      throw IN_PROGRESS();
    }
    logConsent(done.consent, 'consent verified; account linked', {
      ...signedDataFingerprint(evidence.signedData),
      der_bytes: evidence.der.byteLength,
    });
    return done;
  }

  return {
    /** Konaplate real-name check with the user's name and birth date from their record. */
    async verifyAccountHolder(userId: string, bankCode: string, accountNumber: string): Promise<LinkedAccountRow> {
      checkAccountInput(bankCode, accountNumber);
      const user = await users.findUser(userId);
      let verified;
      try {
        verified = await konaplate.verifyAccountHolder({
          userId,
          userName: user.name,
          birthDate: user.birthDate,
          bankCode,
          bankAccount: accountNumber,
        });
      } catch (err) {
        log.info(
          { bank_code: bankCode, account_number: maskAccountNumber(accountNumber), code: (err as { code?: unknown }).code },
          'account holder not verified',
        );
        throw fromKonaplate(err, [
          'ACCOUNT_HOLDER_MISMATCH',
          'INVALID_BANK_ACCOUNT',
          'BANK_ACCOUNT_NOT_FOUND',
          'BANK_ACCOUNT_NOT_USABLE',
          'BANK_NOT_SUPPORTED',
          'BANK_UNAVAILABLE',
          'USER_PROFILE_INCOMPLETE',
          'OUTCOME_UNKNOWN',
          'EXTERNAL_SERVICE_UNAVAILABLE',
        ]);
      }
      const account = await upsertHolderVerified(db, {
        userId,
        bankCode,
        accountNumber,
        bankName: BANK_NAMES.get(bankCode) ?? '',
        correlationId: verified.correlationId,
        at: now(),
      });
      log.info(
        { linked_account_id: account.id, bank_code: bankCode, account_number: maskAccountNumber(accountNumber) },
        'account holder verified',
      );
      return account;
    },

    async listRegisteredAccounts(userId: string): Promise<RegisteredAccounts> {
      let inquiry;
      try {
        inquiry = await konaplate.inquireBankAccounts({ userId });
      } catch (err) {
        throw fromKonaplate(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
      }
      return {
        normal: inquiry.bankAccForNormalRcg,
        auto: inquiry.bankAccForAutoRcg,
        autoRegistrationAllowed: inquiry.isAutoRcgAccRegAllowed,
        linked: await listLinkedAccounts(db, userId),
      };
    },

    /**
     * Sends the consent request for an account whose holder was verified. The consent row is
     * written (REQUESTING) before the call, so a crash leaves a trace; its id travels as PayLoad.
     */
    async requestAutoDebitConsent(userId: string, bankCode: string, accountNumber: string, expiresInSeconds = 0): Promise<ConsentRow> {
      checkAccountInput(bankCode, accountNumber);
      if (expiresInSeconds < 0 || expiresInSeconds > 1000 || !Number.isInteger(expiresInSeconds)) {
        throw new InvalidArgumentError('expires_in_seconds must be 1..1000 (0 for the default)');
      }
      const expiresIn = expiresInSeconds || DEFAULT_CONSENT_EXPIRES_IN_SECONDS;
      const account = await findLinkedAccountByNumber(db, userId, bankCode, accountNumber);
      if (!account) {
        throw new DomainError('ACCOUNT_HOLDER_NOT_VERIFIED', 'Verify the account holder first.');
      }
      const user = await users.findUser(userId);
      const consentId = randomUUID();
      await insertConsent(db, { id: consentId, userId, linkedAccountId: account.id, provider: consents.provider, at: now() });
      let requesting = (await findConsent(db, userId, consentId))!;
      logConsent(requesting, 'consent requested', {
        bank_code: bankCode,
        account_number: maskAccountNumber(accountNumber),
        expires_in_s: expiresIn,
      });
      let receiptId: string;
      const sentAt = now();
      try {
        ({ receiptId } = await consents.requestConsent({
          receiverName: user.name,
          receiverPhone: user.phone,
          receiverBirthDate: user.birthDate,
          bankCode,
          bankAccountNumber: accountNumber,
          bankAccountHolderName: user.name,
          payerId: userId,
          title: CONSENT_TITLE,
          expiresInSeconds: expiresIn,
          memo: consentId,
        }));
      } catch (err) {
        const mapped = fromKakaocert(err, [
          'INVALID_BANK_ACCOUNT',
          'USER_PROFILE_INCOMPLETE',
          'CONSENT_REQUEST_REFUSED',
          'OUTCOME_UNKNOWN',
          'EXTERNAL_SERVICE_UNAVAILABLE',
        ]);
        // A lost RequestCMS answer cannot be reconciled (no receipt id): the message, if sent,
        // expires unsigned, and the user asks again.
        requesting = await move(requesting, ['REQUESTING'], {
          state: 'REQUEST_FAILED',
          failure: mapped instanceof DomainError ? mapped.code : 'UNEXPECTED',
        });
        throw mapped;
      }
      return move(requesting, ['REQUESTING'], {
        state: 'REQUESTED',
        receiptId,
        expiresAt: new Date(sentAt.getTime() + expiresIn * 1000),
      });
    },

    /** The consent's state, refreshed from kakaoCert while it can still change there. */
    async getAutoDebitConsent(userId: string, consentId: string): Promise<ConsentRow> {
      const consent = await ownedConsent(userId, consentId);
      return refresh(consent, ['EXTERNAL_SERVICE_UNAVAILABLE']);
    },

    /**
     * Verifies a signed consent once, stores its evidence and links the account. A VERIFIED
     * consent answers again without calling kakaoCert; VERIFY_UNKNOWN is reconciled first.
     */
    async confirmAutoDebitConsent(userId: string, consentId: string): Promise<ConfirmedConsent> {
      let consent = await ownedConsent(userId, consentId);
      if (consent.state === 'VERIFIED') {
        const account = await findLinkedAccount(db, userId, consent.linkedAccountId);
        return { consent, account: account! };
      }
      consent = await refresh(consent, CONFIRM_ERRORS);
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
      return verifyOnce(claimed);
    },

    /**
     * Registers a linked account for automatic top-up, when Konaplate allows it: the account is
     * the member's normal top-up account and no automatic one exists there yet, or it already is
     * the automatic one. Idempotent.
     */
    async registerAutoTopUpAccount(userId: string, linkedAccountId: bigint): Promise<LinkedAccountRow> {
      const account = await findLinkedAccount(db, userId, linkedAccountId);
      if (!account) throw new DomainError('LINKED_ACCOUNT_NOT_FOUND', 'The linked account was not found.');
      if (account.state !== 'LINKED') throw new DomainError('ACCOUNT_NOT_LINKED', 'Confirm an auto-debit consent for the account first.');
      if (account.autoTopUpRegisteredAt) return account;
      let inquiry;
      try {
        inquiry = await konaplate.inquireBankAccounts({ userId });
      } catch (err) {
        throw fromKonaplate(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
      }
      const same = (a: RegisteredBankAccount | undefined) =>
        a !== undefined && a.bankCode === account.bankCode && a.bankAccount === account.accountNumber;
      const alreadyAuto = same(inquiry.bankAccForAutoRcg);
      if (!alreadyAuto && !(inquiry.isAutoRcgAccRegAllowed && same(inquiry.bankAccForNormalRcg))) {
        throw new DomainError('AUTO_TOP_UP_NOT_ALLOWED', 'This account cannot be registered for automatic top-up.');
      }
      const registered = await registerAutoTopUp(db, userId, account.id, now());
      log.info(
        {
          linked_account_id: account.id,
          bank_code: account.bankCode,
          account_number: maskAccountNumber(account.accountNumber),
          already_at_konaplate: alreadyAuto,
        },
        'account registered for automatic top-up',
      );
      return registered;
    },
  };
}

export type Funding = ReturnType<typeof createFunding>;
