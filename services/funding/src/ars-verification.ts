/**
 * Use cases: ARS verification, the second linking step of seed 001 ("1. 계좌 예금주 실명 검증
 * 2. ARS 인증"): Konaplate issues a code, calls the user's phone, and registers the account as the
 * member's normal top-up account once the user keys the code in. The kakaoCert consent comes after.
 *
 * State machine (funding.table.ts): ISSUING → CODE_ISSUED → CALLING → REGISTERED, exits FAILED and
 * EXPIRED. The row and its regTranId are written before the first call; every Konaplate call of
 * the flow is idempotent by regTranId (ars-registration.ts in @kfrm/konaplate), so a lost answer,
 * a crash or a repeated Start resumes the same attempt and never places a second phone call.
 * Each move is one statement guarded by the states it may leave: concurrent polls agree, and a
 * late or repeated answer (CALLING after REGISTERED, FAILED after REGISTERED) changes nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { failWith } from '@kfrm/errors';
import { type AccountRegistrationStatus, KonaplateError } from '@kfrm/konaplate';
import { maskAccountNumber } from '@kfrm/logging';
import { checkAccountInput, type AccountInputCode } from './account-input';
import {
  completeArsVerification,
  findArsVerification,
  findResumableArsVerification,
  insertArsVerification,
  transitionArsVerification,
  type ArsVerificationRow,
} from './ars-verification.repository';
import { fromKonaplate } from './external-errors';
import type { FundingContext } from './funding.context';
import { findLinkedAccount, findLinkedAccountByNumber, type LinkedAccountRow } from './funding.repository';
import type { ArsVerificationState } from './funding.table';
import { knownKonaplateMemberId } from './konaplate-member';

/** The seed codes (extensions) `startArsVerification` raises. */
export type StartArsVerificationCode =
  | AccountInputCode
  | 'ACCOUNT_HOLDER_NOT_VERIFIED'
  | 'BANK_ACCOUNT_NOT_FOUND'
  | 'BANK_ACCOUNT_NOT_USABLE'
  | 'BANK_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

/** The seed codes (extensions) `getArsVerification` raises. */
export type GetArsVerificationCode =
  | 'ARS_VERIFICATION_NOT_FOUND'
  | 'BANK_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

type ArsDeps = Pick<FundingContext, 'db' | 'konaplate' | 'log' | 'now'>;

const startFailed = failWith<StartArsVerificationCode>();
const getFailed = failWith<GetArsVerificationCode>();
const NOT_VERIFIED = () => startFailed('ACCOUNT_HOLDER_NOT_VERIFIED', 'Verify the account holder first.');
const NOT_FOUND = () => getFailed('ARS_VERIFICATION_NOT_FOUND', 'The ARS verification was not found.');

/** Answers of Konaplate that end an attempt for good (nothing to resume): everything but the transient kinds. */
function isTransient(err: unknown): boolean {
  return err instanceof KonaplateError && (err.retryLater || err.kind === 'outcome_unknown');
}

const START_CODES = [
  'INVALID_BANK_ACCOUNT',
  'BANK_ACCOUNT_NOT_FOUND',
  'BANK_ACCOUNT_NOT_USABLE',
  'BANK_UNAVAILABLE',
  'EXTERNAL_SERVICE_UNAVAILABLE',
] as const;

/**
 * Starts (or resumes) the ARS registration of a holder-verified account: the code to show, and
 * the phone call asked for. A Start repeated while an attempt for the account is still running
 * answers that attempt, so pressing the button twice never calls the phone twice.
 */
export async function startArsVerification(
  deps: ArsDeps,
  userId: string,
  bankCode: string,
  accountNumber: string,
): Promise<ArsVerificationRow> {
  checkAccountInput(bankCode, accountNumber);
  const account = await findLinkedAccountByNumber(deps.db, userId, bankCode, accountNumber);
  // Holder verification registered the member; without it Konaplate knows neither.
  const memberId = account && (await knownKonaplateMemberId(deps, userId));
  if (!account || !memberId) throw NOT_VERIFIED();
  const at = deps.now();
  let row =
    (await findResumableArsVerification(deps.db, account.id, at)) ??
    (await insertArsVerification(deps.db, {
      id: randomUUID(),
      userId,
      linkedAccountId: account.id,
      memberId,
      // Letters and digits, 35 characters: Konaplate's idempotency key for this attempt.
      regTranId: `ARS${randomBytes(16).toString('hex')}`,
      at,
    }));
  deps.log.info(
    { ars_verification_id: row.id, linked_account_id: account.id, state: row.state, account_number: maskAccountNumber(accountNumber) },
    'ars verification started',
  );
  try {
    row = await advance(deps, row, account);
  } catch (err) {
    throw fromKonaplate<StartArsVerificationCode>(err, START_CODES);
  }
  return row;
}

/** The verification and its account, brought up to date with Konaplate while it can still change. */
export async function getArsVerification(
  deps: ArsDeps,
  userId: string,
  id: string,
): Promise<{ verification: ArsVerificationRow; account: LinkedAccountRow }> {
  if (!id || id.length > 64) throw NOT_FOUND();
  const row = await findArsVerification(deps.db, userId, id);
  if (!row) throw NOT_FOUND();
  const account = (await findLinkedAccount(deps.db, userId, row.linkedAccountId))!;
  let verification: ArsVerificationRow;
  try {
    verification = await advance(deps, row, account);
  } catch (err) {
    throw fromKonaplate<GetArsVerificationCode>(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
  }
  const current = verification.state === 'REGISTERED' ? (await findLinkedAccount(deps.db, userId, row.linkedAccountId))! : account;
  return { verification, account: current };
}

/**
 * One step further where Konaplate allows: ISSUING asks for the code (again, under the same
 * regTranId), CODE_ISSUED asks for the call, CALLING asks the status. A transient failure while
 * asking for the call leaves CODE_ISSUED (the next poll asks again); a refusal of the code ends
 * the attempt FAILED.
 */
async function advance(deps: ArsDeps, row: ArsVerificationRow, account: LinkedAccountRow): Promise<ArsVerificationRow> {
  const request = { userId: row.memberId, regTranId: row.regTranId };
  if (row.state === 'ISSUING') {
    let issued;
    try {
      issued = await deps.konaplate.issueArsCode({ ...request, bankCode: account.bankCode, bankAccount: account.accountNumber });
    } catch (err) {
      if (!isTransient(err)) {
        await move(deps, row, ['ISSUING'], { state: 'FAILED', failure: err instanceof KonaplateError ? err.code : 'UNEXPECTED' });
      }
      throw err;
    }
    row = await move(deps, row, ['ISSUING'], {
      state: 'CODE_ISSUED',
      authCode: issued.authCode,
      codeExpiresAt: new Date(deps.now().getTime() + issued.validSeconds * 1000),
    });
  }
  if (row.state === 'CODE_ISSUED') {
    try {
      return await apply(deps, row, await deps.konaplate.registerBankAccount(request));
    } catch (err) {
      if (isTransient(err)) return row;
      throw err;
    }
  }
  if (row.state === 'CALLING') return apply(deps, row, await deps.konaplate.inquireAccountRegistration(request));
  return row;
}

/** Records what Konaplate says, only forward: a stale answer finds the row past it and changes nothing. */
async function apply(deps: ArsDeps, row: ArsVerificationRow, status: AccountRegistrationStatus): Promise<ArsVerificationRow> {
  const open: ArsVerificationState[] = ['CODE_ISSUED', 'CALLING'];
  switch (status.status) {
    case 'CODE_ISSUED':
      return row;
    case 'CALLING':
      return row.state === 'CODE_ISSUED' ? move(deps, row, ['CODE_ISSUED'], { state: 'CALLING' }) : row;
    case 'REGISTERED': {
      const done = await completeArsVerification(deps.db, row.id, open, deps.now());
      if (!done) return (await findArsVerification(deps.db, row.userId, row.id)) ?? row;
      deps.log.info(
        { ars_verification_id: row.id, linked_account_id: row.linkedAccountId, from: row.state, state: 'REGISTERED' },
        'ars verification state changed',
      );
      return done.verification;
    }
    case 'FAILED':
      return move(deps, row, open, { state: 'FAILED', failure: status.failReason });
    case 'EXPIRED':
      return move(deps, row, open, { state: 'EXPIRED' });
    case 'NOT_FOUND':
      // Konaplate lost an attempt it had answered for: nothing registered; the user starts again.
      return move(deps, row, open, { state: 'FAILED', failure: 'NOT_FOUND_AT_KONAPLATE' });
  }
}

async function move(
  deps: ArsDeps,
  row: ArsVerificationRow,
  from: readonly ArsVerificationState[],
  update: Parameters<typeof transitionArsVerification>[3],
): Promise<ArsVerificationRow> {
  const moved = await transitionArsVerification(deps.db, row.id, from, update, deps.now());
  if (!moved) return (await findArsVerification(deps.db, row.userId, row.id)) ?? row;
  if (moved.state !== row.state) {
    // Never the code itself: it is what the phone call checks.
    deps.log.info(
      {
        ars_verification_id: row.id,
        linked_account_id: row.linkedAccountId,
        from: row.state,
        state: moved.state,
        failure: moved.failure ?? undefined,
      },
      'ars verification state changed',
    );
  }
  return moved;
}
