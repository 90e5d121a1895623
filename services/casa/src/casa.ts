import { randomUUID } from 'node:crypto';
import { failWith, InvalidArgumentError } from '@kfrm/errors';
import type { SecretHasher } from '@kfrm/credentials';
import type { Logger } from '@kfrm/logging';
import { birthDateFromResidentId, evaluateAccountPassword } from './account-password';
import {
  abandonOpening,
  agreedTermIds,
  findOpening,
  insertOrLockOpening,
  listActiveTerms,
  markOpened,
  markOutcomeUnknown,
  reclaimOpening,
  saveAgreements,
  type CasaDb,
  type TermRow,
} from './casa.repository';
import { LedgerOutcomeUnknownError, type CasaUser, type FindUserCode, type LedgerAccounts, type UserDirectory } from './upstream';

/** Where the user stands in the opening process (the seed's UserStatus of kfrm.api.casa). */
export type OpeningStatus = 'NONE' | 'WAIT_FOR_CIF' | 'WAIT_FOR_KYC' | 'OK';

export interface TransferLimit {
  perTransactionKrw: bigint;
  perDayKrw: bigint;
}

export interface OpenedAccount {
  accountNumber: string;
  limit: TransferLimit;
}

/** The name the ledger shows for the account (the product's name). */
export const CASA_ACCOUNT_NAME = '입출금통장';

/** 5,000,000 KRW per transaction and 10,000,000 KRW per business day (the ledger enforces them). */
export const DEFAULT_TRANSFER_LIMIT: Readonly<TransferLimit> = Object.freeze({ perTransactionKrw: 5_000_000n, perDayKrw: 10_000_000n });

export interface CasaDeps {
  db: CasaDb;
  users: UserDirectory;
  ledger: LedgerAccounts;
  hasher: SecretHasher;
  logger: Logger;
  limit?: TransferLimit;
  /**
   * How long one CompleteOpening holds the user's opening while it calls the ledger; far longer
   * than the ledger call's deadline, so a claim only lapses when its holder died.
   */
  claimMs?: number;
  now?: () => Date;
}

export function idempotencyKeyFor(userId: string): string {
  return `casa-opening:${userId}`;
}

export function openingStatusOf(user: CasaUser): OpeningStatus {
  if (!user.active) return 'NONE';
  if (!user.customerId) return 'WAIT_FOR_CIF';
  if (!user.kycVerified) return 'WAIT_FOR_KYC';
  return 'OK';
}

/*
 * The seed codes each use case raises (users.findUser's included). The handlers' policies check
 * them against each method's ApiError at compile time; each use case throws through its maker.
 */
export type InitiateOpeningCode = FindUserCode;
export type AgreeTermsCode = 'TERM_NOT_FOUND' | 'MANDATORY_TERMS_NOT_AGREED';
export type CompleteOpeningCode =
  | FindUserCode
  | 'CASA_ALREADY_OPENED'
  | 'USER_STATUS_CONFLICT'
  | 'CIF_NOT_FOUND'
  | 'KYC_NOT_VERIFIED'
  | 'MANDATORY_TERMS_NOT_AGREED'
  | 'INVALID_ACCOUNT_PASSWORD'
  | 'WEAK_ACCOUNT_PASSWORD'
  | 'CASA_OPENING_IN_PROGRESS'
  | 'OUTCOME_UNKNOWN';

const agreeFailed = failWith<AgreeTermsCode>();
const openingFailed = failWith<CompleteOpeningCode>();

const alreadyOpened = () => openingFailed('CASA_ALREADY_OPENED', 'You already have an account.');

export function createCasa(deps: CasaDeps) {
  const { db, users, ledger, hasher, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const limit = deps.limit ?? DEFAULT_TRANSFER_LIMIT;
  const claimMs = deps.claimMs ?? 60_000;

  async function requireReady(userId: string): Promise<CasaUser> {
    const user = await users.findUser(userId);
    switch (openingStatusOf(user)) {
      case 'NONE':
        throw openingFailed('USER_STATUS_CONFLICT', 'This member cannot open an account.');
      case 'WAIT_FOR_CIF':
        throw openingFailed('CIF_NOT_FOUND', 'Your customer information is not registered yet.');
      case 'WAIT_FOR_KYC':
        throw openingFailed('KYC_NOT_VERIFIED', 'Your identity verification is not complete.');
      case 'OK':
        return user;
    }
  }

  async function requireMandatoryTerms(userId: string): Promise<void> {
    const [terms, agreed] = await Promise.all([listActiveTerms(db), agreedTermIds(db, userId)]);
    if (terms.some((t) => t.mandatory && !agreed.has(t.id))) {
      throw openingFailed('MANDATORY_TERMS_NOT_AGREED', 'Every mandatory term must be agreed.');
    }
  }

  return {
    /**
     * NONE (not an active member), WAIT_FOR_CIF (no customer id yet), WAIT_FOR_KYC (identity not
     * verified) or OK (ready). A user who already has the account is OK too: the process is
     * complete, and CompleteOpening then says CASA_ALREADY_OPENED.
     */
    async initiateOpening(userId: string): Promise<OpeningStatus> {
      const opening = await findOpening(db, userId);
      if (opening?.state === 'OPENED') return 'OK';
      return openingStatusOf(await users.findUser(userId));
    },

    listTerms(): Promise<TermRow[]> {
      return listActiveTerms(db);
    },

    /**
     * Records the answers. Unknown (or retired) term ids: TERM_NOT_FOUND. The call must leave
     * every mandatory term agreed (in this call or before): else MANDATORY_TERMS_NOT_AGREED and
     * nothing is stored. Optional terms may be agreed or withdrawn at any time.
     */
    async agreeTerms(userId: string, agreements: readonly { termId: bigint; agreed: boolean }[]): Promise<void> {
      const seen = new Set<bigint>();
      for (const a of agreements) {
        if (seen.has(a.termId)) throw new InvalidArgumentError('a term appears twice in agreements');
        seen.add(a.termId);
      }
      const terms = await listActiveTerms(db);
      const known = new Set(terms.map((t) => t.id));
      if (agreements.some((a) => !known.has(a.termId))) throw agreeFailed('TERM_NOT_FOUND', 'A term was not found.');
      await db.transaction().execute(async (trx) => {
        const agreed = await agreedTermIds(trx, userId);
        for (const a of agreements) {
          if (a.agreed) agreed.add(a.termId);
          else agreed.delete(a.termId);
        }
        if (terms.some((t) => t.mandatory && !agreed.has(t.id))) {
          throw agreeFailed('MANDATORY_TERMS_NOT_AGREED', 'Every mandatory term must be agreed.');
        }
        await saveAgreements(trx, userId, agreements, now());
      });
    },

    /**
     * Opens the user's account: checks (already opened, CIF, KYC, mandatory terms, password), then
     * claims the user's opening row, creates the ledger account and records it. Nothing is
     * created when a check fails. See README "Exactly one account" for the failure cases.
     */
    async completeOpening(userId: string, password: string): Promise<OpenedAccount> {
      if ((await findOpening(db, userId))?.state === 'OPENED') throw alreadyOpened();
      const user = await requireReady(userId);
      await requireMandatoryTerms(userId);
      const birthDate = birthDateFromResidentId(user.residentId);
      const checked = evaluateAccountPassword(password, { ...(birthDate ? { birthDate } : {}), phoneNumber: user.phoneNumber });
      if (checked.result === 'INVALID_ACCOUNT_PASSWORD')
        throw openingFailed('INVALID_ACCOUNT_PASSWORD', 'The account password must be 4 digits.');
      if (checked.result === 'WEAK_ACCOUNT_PASSWORD') {
        logger.info({ user_id: userId, rule: checked.rule }, 'weak account password refused');
        throw openingFailed('WEAK_ACCOUNT_PASSWORD', 'The account password is too easy to guess.');
      }
      // Slow (argon2id on the thread pool): before the transaction, never while holding a lock.
      const passwordHash = await hasher.hashSecret(password);

      const claimToken = randomUUID();
      const started = now();
      const claim = {
        passwordHash,
        claimToken,
        claimedUntil: new Date(started.getTime() + claimMs),
        limitPerTransactionKrw: limit.perTransactionKrw,
        limitPerDayKrw: limit.perDayKrw,
      };
      const idempotencyKey = idempotencyKeyFor(userId);
      await db.transaction().execute(async (trx) => {
        const { row, inserted } = await insertOrLockOpening(trx, { userId, idempotencyKey, ...claim, now: started });
        if (inserted) return;
        if (row.state === 'OPENED') throw alreadyOpened();
        if (row.claimToken !== null && row.claimedUntil !== null && row.claimedUntil > started) {
          throw openingFailed('CASA_OPENING_IN_PROGRESS', 'Your account is being opened. Try again shortly.');
        }
        // A released claim (outcome unknown) or a lapsed one (its holder died): retry with the same key.
        if (row.outcomeUnknownAt || row.claimToken)
          logger.warn({ user_id: userId, outcome_unknown_at: row.outcomeUnknownAt }, 'retrying an unfinished opening');
        await reclaimOpening(trx, userId, claim);
      });

      let accountNumber: string;
      try {
        ({ accountNumber } = await ledger.createAccount({
          idempotencyKey,
          ownerUserId: userId,
          accountName: CASA_ACCOUNT_NAME,
          limitPerTransactionKrw: limit.perTransactionKrw,
          limitPerDayKrw: limit.perDayKrw,
        }));
      } catch (err) {
        if (err instanceof LedgerOutcomeUnknownError) {
          await markOutcomeUnknown(db, userId, claimToken, now());
          logger.warn({ user_id: userId, err }, 'ledger CreateAccount outcome unknown; the next attempt retries with the same key');
          throw openingFailed('OUTCOME_UNKNOWN', 'We could not confirm the opening. Please try again.', { cause: err });
        }
        await abandonOpening(db, userId, claimToken);
        throw err;
      }
      if (!(await markOpened(db, userId, claimToken, accountNumber, now()))) {
        // Only when this call outlived its claim (a stalled process); the ledger account it made is
        // reported for an operator rather than attached twice.
        logger.error({ user_id: userId, account_number: accountNumber }, 'opening claim lost after the ledger created the account');
        throw new Error('opening claim lost after the ledger created the account');
      }
      logger.info({ user_id: userId, account_number: accountNumber }, 'casa account opened');
      return { accountNumber, limit };
    },
  };
}

export type Casa = ReturnType<typeof createCasa>;
