import { createHash } from 'node:crypto';
import { isUniqueViolation } from '@kfrm/db';
import { failWith, InvalidArgumentError, isDomainError } from '@kfrm/errors';
import type { Store } from '@kfrm/store';
import { isCustomerAccountNumber, newAccountNumber } from './account-number';
import {
  businessDay,
  type DepositRefusalCode,
  type LedgerEvent,
  type LedgerPoster,
  type PostResult,
  type TransferRefusalCode,
} from './ledger-poster';
import {
  findAccountByNumber,
  findAccountByCreationKey,
  findAccountsByNumbers,
  insertCustomerAccount,
  closeEmptyAccount,
  findEntriesByKeys,
  listAccountsOfOwner,
  listOutboxAfter,
  listStatementLines,
  listStatementLinesFiltered,
  updateAccountDisplay,
  updateTransferLimits,
  type AccountRow,
  type LedgerDb,
  type OutboxRow,
  type StatementLine,
  type StoredEntry,
} from './ledger.repository';
import type { AmountCode, Currency, Money } from './money';

/*
 * The seed codes each use case raises. The handlers' policies check them against each method's
 * ApiError at compile time; each use case throws through its maker.
 */
export type CreateAccountCode = AmountCode | 'IDEMPOTENCY_KEY_REUSED';
export type PostTransferCode = AmountCode | TransferRefusalCode;
export type DepositCode = AmountCode | 'ACCOUNT_NOT_FOUND' | 'IDEMPOTENCY_KEY_REUSED';
export type FindAccountCode = 'ACCOUNT_NOT_FOUND';
export type SetTransferLimitsCode = AmountCode | 'ACCOUNT_NOT_FOUND';
export type CloseAccountCode = 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_BALANCE_NOT_ZERO';
export type UpdateAccountCode = 'ACCOUNT_NOT_FOUND' | 'INVALID_ACCOUNT_NAME' | 'INVALID_ACCOUNT_COLOR' | 'NOTHING_TO_UPDATE';

const createFailed = failWith<CreateAccountCode>();
const transferFailed = failWith<PostTransferCode>();
const depositFailed = failWith<DepositCode>();
const limitsFailed = failWith<SetTransferLimitsCode>();
const closeFailed = failWith<CloseAccountCode>();
const updateFailed = failWith<UpdateAccountCode>();
const accountNotFound = () => failWith<FindAccountCode>()('ACCOUNT_NOT_FOUND', 'account not found');

/**
 * A deposit the settlement account refused: it is missing, not SYSTEM or may not go negative
 * (migration 001 creates it with overdraft allowed), or it would pass int64. That is the bank's
 * configuration, not the caller's request, and Deposit's ApiError has no code for it that would
 * be true (ACCOUNT_NOT_FOUND would blame the caller's account). So it stays what it was before
 * Deposit declared its codes: INTERNAL, logged at error level for an operator.
 */
export class SettlementAccountRefusedError extends Error {
  override name = 'SettlementAccountRefusedError';
}

/** Deposit refusals that are not Deposit's codes; a posting code added later must be decided here. */
const SETTLEMENT_REFUSALS: Record<Exclude<DepositRefusalCode, DepositCode>, true> = {
  INVALID_SOURCE_ACCOUNT: true,
  INSUFFICIENT_BALANCE: true,
};
const settlementRefusalCodes = Object.keys(SETTLEMENT_REFUSALS) as (keyof typeof SETTLEMENT_REFUSALS)[];

export const SETTLEMENT_ACCOUNT: Record<Currency, string> = {
  KRW: '0000-SETTLEMENT-KRW',
  USD: '0000-SETTLEMENT-USD',
  THB: '0000-SETTLEMENT-THB',
};

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_OUTBOX_PAGE = 1000;
/** How long page 1's snapshot bound is kept for the pages after it. */
export const STATEMENT_SNAPSHOT_TTL_MS = 30 * 60_000;

const KEY_FORMAT = /^[\x21-\x7e]{1,128}$/;
const COLOR_FORMAT = /^#[0-9A-Fa-f]{6}$/;
const MAX_ACCOUNT_NAME_CHARS = 100;
/**
 * What a name the customer gives cannot hold: control characters, format characters (bidi
 * overrides that make a statement read other than it is, zero-width joiners), line and paragraph
 * separators, surrogates and unassigned code points.
 */
const UNSHOWABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;
const MAX_MEMO = 200;
const MAX_EVENTS = 8;
const MAX_EVENT_TEXT = 1000;
const MAX_COUNTERPARTY_NAME = 100;

export interface CreateAccountInput {
  ownerUserId: string;
  name: string;
  currency: Currency;
  /** Zero or undefined: no limit. */
  limitPerTransaction?: Money;
  limitPerDay?: Money;
  color?: string;
  /** Optional: the same key returns the account first created with it. */
  idempotencyKey?: string;
}

export interface PostTransferInput {
  idempotencyKey: string;
  fromAccountNumber: string;
  toAccountNumber: string;
  amount: Money;
  debitMemo: string;
  creditMemo: string;
  events: LedgerEvent[];
  sourceOwnerUserId?: string;
  /** Interbank: credit the external-settlement account (toAccountNumber must be empty). */
  toExternalSettlement?: boolean;
  /**
   * With toExternalSettlement: the money goes out to the owner's own bank account (funding's
   * withdrawal), recorded as a WITHDRAWAL entry (statement type 출금, WITHDRAWAL events allowed).
   */
  withdrawal?: boolean;
}

export interface DepositInput {
  idempotencyKey: string;
  accountNumber: string;
  amount: Money;
  memo: string;
  /** TOP_UP or WITHDRAWAL_RETURNED facts for the credited account's owner (funding); none for the operator. */
  events?: LedgerEvent[];
}

export interface StatementPage {
  lines: StatementLine[];
  currency: Currency;
}

export type StatementDirection = 'ALL' | 'DEPOSITS' | 'WITHDRAWALS';

/** ListTransactions in cursor mode (a documented extension of the contract). */
export interface StatementQuery {
  /** First Seoul day shown, YYYY-MM-DD, inclusive; empty or absent: no lower bound. */
  fromDate?: string;
  /** Last Seoul day shown, YYYY-MM-DD, inclusive; empty or absent: no upper bound. */
  toDate?: string;
  direction: StatementDirection;
  /** 0: the default size; above MAX_PAGE_SIZE: MAX_PAGE_SIZE. */
  pageSize: number;
  /** The previous page's nextPageToken; empty or absent for the first page. */
  pageToken?: string;
}

export interface FilteredStatementPage extends StatementPage {
  /** Empty when this is the last page. */
  nextPageToken: string;
}

/** Statement days are Korean days: Asia/Seoul is UTC+9 all year (no daylight saving). */
const SEOUL_OFFSET = '+09:00';
const DAY_MS = 24 * 60 * 60 * 1000;
const PAGE_TOKEN = /^c1\.([1-9]\d{0,18})$/;

/** The first instant of a Seoul day, or INVALID_ARGUMENT for anything but a real YYYY-MM-DD date. */
function seoulDayStart(name: string, day: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const parsed = match ? new Date(`${day}T00:00:00${SEOUL_OFFSET}`) : undefined;
  const start = parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined;
  // new Date rolls 2026-02-30 over to 2 March: the day must read back as given.
  const real = start && new Date(start.getTime() + 9 * 60 * 60 * 1000).toISOString().slice(0, 10) === day;
  if (!start || !real) throw new InvalidArgumentError(`${name} must be a date YYYY-MM-DD`);
  return start;
}

/** Cursor tokens name the last posting shown (its number on the account); opaque to the app. */
export function statementPageTokenAfter(line: StatementLine): string {
  return `c1.${line.accountSeq.toString()}`;
}

function seqOfPageToken(token: string): bigint {
  const match = PAGE_TOKEN.exec(token);
  if (!match) throw new InvalidArgumentError('page_token is not one this server gave');
  return BigInt(match[1]!);
}

export interface Ledger {
  createAccount(input: CreateAccountInput): Promise<AccountRow>;
  postTransfer(input: PostTransferInput): Promise<PostResult>;
  deposit(input: DepositInput): Promise<PostResult>;
  /** The account if it is the owner's; ACCOUNT_NOT_FOUND otherwise (unknown or someone else's alike). */
  getAccountForOwner(ownerUserId: string, accountNumber: string): Promise<AccountRow>;
  /** Any customer account by number (a transfer shows its holder); ACCOUNT_NOT_FOUND otherwise. */
  getTransferTarget(accountNumber: string): Promise<AccountRow>;
  /**
   * A transfer's two accounts in one read: the source as getAccountForOwner finds it, the target
   * as getTransferTarget does (an empty number: none asked for). A side not found is undefined.
   */
  getTransferParties(
    ownerUserId: string,
    sourceAccountNumber: string,
    targetAccountNumber: string,
  ): Promise<{ source: AccountRow | undefined; target: AccountRow | undefined }>;
  /**
   * What the daily limit has counted against the account on the current business day: the
   * posting's counter when it was last moved today, else zero (the day turned since).
   */
  debitedToday(account: AccountRow): bigint;
  listAccounts(ownerUserId: string): Promise<AccountRow[]>;
  /**
   * One page of the owner's account statement, newest first. `snapshotScope` names the reader
   * (e.g. a hash of the session): page 1 records how many postings the account had, and later
   * pages of the same reader count back from that bound, so postings that arrive meanwhile do
   * not shift them.
   */
  listTransactions(
    ownerUserId: string,
    accountNumber: string,
    page: number,
    pageSize: number,
    snapshotScope: string,
  ): Promise<StatementPage>;
  /**
   * One page of the owner's statement in cursor mode, newest first: the postings of the Seoul days
   * fromDate..toDate in the direction asked for, after the page token. INVALID_ARGUMENT for a date
   * that is not YYYY-MM-DD, a range that ends before it starts or a token this server did not give.
   */
  listTransactionsFiltered(ownerUserId: string, accountNumber: string, query: StatementQuery): Promise<FilteredStatementPage>;
  listOutboxEvents(afterId: bigint, limit: number): Promise<OutboxRow[]>;
  /**
   * Sets both transfer limits of the owner's account (positive, in its currency). Whether the
   * change is allowed (maximums, step-up) is the transfer service's decision; the ledger enforces
   * whatever is set at the next posting.
   */
  setTransferLimits(input: { ownerUserId: string; accountNumber: string; perTransaction: Money; perDay: Money }): Promise<AccountRow>;
  /**
   * Closes the owner's account: balance zero (else ACCOUNT_BALANCE_NOT_ZERO), statement kept,
   * neither side of a posting from then on. Closing a closed account answers it as it is.
   */
  closeAccount(ownerUserId: string, accountNumber: string): Promise<AccountRow>;
  /**
   * Sets how the owner's account is shown (closed ones too): the name (trimmed, 1-100 showable
   * characters), the colour (#RRGGBB, stored upper-case), the bookmark. At least one is given.
   */
  updateAccount(
    ownerUserId: string,
    accountNumber: string,
    changes: { name?: string; color?: string; bookmarked?: boolean },
  ): Promise<AccountRow>;
  /** Every account of the owner, closed ones included. */
  listAllAccounts(ownerUserId: string): Promise<AccountRow[]>;
  /** The committed entries under these idempotency keys (1..200 keys); unknown keys are left out. */
  findEntriesByKeys(keys: string[]): Promise<StoredEntry[]>;
}

/** Keys per FindEntriesByKeys call (reconciliation asks page by page). */
const MAX_ENTRY_KEYS = 200;

function checkKey(key: string): void {
  if (!KEY_FORMAT.test(key)) throw new InvalidArgumentError('idempotency_key must be 1-128 printable ASCII characters');
}

function checkText(name: string, value: string, max: number): void {
  if (value.length > max) throw new InvalidArgumentError(`${name} is longer than ${max} characters`);
}

function limitOf(money: Money | undefined, currency: Currency): bigint | null {
  if (!money || money.minor === 0n) return null;
  if (money.currency !== currency) throw createFailed('INVALID_AMOUNT', 'limit is not in the account currency');
  if (money.minor < 0n) throw createFailed('INVALID_AMOUNT', 'limit must not be negative');
  return money.minor;
}

export function createLedger(deps: {
  db: LedgerDb;
  poster: LedgerPoster;
  store: Store;
  now?: () => Date;
  /** The business day's time zone; the poster's (KFRM_LEDGER_TIME_ZONE), so both count the same day. */
  timeZone?: string;
}): Ledger {
  const { db, poster, store } = deps;
  const clock = deps.now ?? (() => new Date());
  const timeZone = deps.timeZone ?? 'Asia/Seoul';
  const isOwn = (account: AccountRow | undefined, ownerUserId: string) =>
    ownerUserId !== '' && account?.kind === 'CUSTOMER' && account.ownerUserId === ownerUserId;
  // A closed account receives nothing: to a sender it is no account.
  const isTarget = (account: AccountRow | undefined) => account?.kind === 'CUSTOMER' && account.closedAt === null;

  async function ownAccount(ownerUserId: string, accountNumber: string): Promise<AccountRow> {
    // One answer for "no such account" and "not yours", and no lookup for malformed numbers.
    const account = isCustomerAccountNumber(accountNumber) && ownerUserId !== '' ? await findAccountByNumber(db, accountNumber) : undefined;
    if (!account || !isOwn(account, ownerUserId)) throw accountNotFound();
    return account;
  }

  return {
    async createAccount(input) {
      if (!/^[0-9A-Za-z_-]{1,64}$/.test(input.ownerUserId)) throw new InvalidArgumentError('owner_user_id is required');
      const name = input.name.trim();
      if (name.length === 0 || name.length > 100) throw new InvalidArgumentError('account_name must be 1-100 characters');
      const color = input.color ? input.color : '#000000';
      if (!COLOR_FORMAT.test(color)) throw new InvalidArgumentError('account_color must be #RRGGBB');
      const limitPerTransactionMinor = limitOf(input.limitPerTransaction, input.currency);
      const limitPerDayMinor = limitOf(input.limitPerDay, input.currency);
      const creationKey = input.idempotencyKey ? input.idempotencyKey : undefined;
      if (creationKey !== undefined) checkKey(creationKey);
      // A retry with the same key gets the account it created; another owner's key is refused.
      const existing = async () => {
        const account = creationKey === undefined ? undefined : await findAccountByCreationKey(db, creationKey);
        if (account && account.ownerUserId !== input.ownerUserId) {
          throw createFailed('IDEMPOTENCY_KEY_REUSED', 'idempotency key already used for another account');
        }
        return account;
      };
      const first = await existing();
      if (first) return first;
      for (let attempt = 0; ; attempt++) {
        try {
          return await insertCustomerAccount(db, {
            creationKey,
            accountNumber: newAccountNumber(),
            ownerUserId: input.ownerUserId,
            name,
            color,
            currency: input.currency,
            limitPerTransactionMinor,
            limitPerDayMinor,
          });
        } catch (err) {
          // A random number that is already taken: draw another (10^10 numbers, so rarely twice).
          if (attempt < 5 && isUniqueViolation(err, 'accounts_account_number_key')) continue;
          // A concurrent call with the same key won: answer with its account.
          if (isUniqueViolation(err, 'accounts_creation_key_key')) {
            const winner = await existing();
            if (winner) return winner;
          }
          throw err;
        }
      }
    },

    async postTransfer(input) {
      checkKey(input.idempotencyKey);
      checkText('debit_memo', input.debitMemo, MAX_MEMO);
      checkText('credit_memo', input.creditMemo, MAX_MEMO);
      if (input.events.length > MAX_EVENTS) throw new InvalidArgumentError(`at most ${MAX_EVENTS} events`);
      for (const e of input.events) {
        if (e.userId === '') throw new InvalidArgumentError('event user_id is required');
        if (e.kind === 'TEXT') {
          checkText('event title', e.title, MAX_EVENT_TEXT);
          checkText('event content', e.content, MAX_EVENT_TEXT);
        } else {
          checkText('event counterparty_name', e.counterpartyName, MAX_COUNTERPARTY_NAME);
          // Money leaving the bank credits the settlement account: nobody here receives it.
          if (e.kind === 'TRANSFER_IN' && input.toExternalSettlement)
            throw new InvalidArgumentError('no TRANSFER_IN event for a transfer to the external settlement');
          if (e.kind === 'TOP_UP' || e.kind === 'WITHDRAWAL_RETURNED') throw new InvalidArgumentError(`no ${e.kind} event on a transfer`);
          if (e.kind === 'WITHDRAWAL' && !input.withdrawal) throw new InvalidArgumentError('a WITHDRAWAL event needs withdrawal');
        }
      }
      if (input.withdrawal && !input.toExternalSettlement) throw new InvalidArgumentError('withdrawal needs to_external_settlement');
      if (input.amount.minor <= 0n) throw transferFailed('INVALID_AMOUNT', 'amount must be positive');
      if (input.toExternalSettlement) {
        if (input.toAccountNumber !== '') throw new InvalidArgumentError('to_account_number must be empty for the external settlement');
        const { toExternalSettlement: _, withdrawal, ...rest } = input;
        return poster.post({
          kind: withdrawal ? 'WITHDRAWAL' : 'TRANSFER',
          ...rest,
          toAccountNumber: SETTLEMENT_ACCOUNT[input.amount.currency],
          toSettlement: true,
        });
      }
      const { toExternalSettlement: _, withdrawal: __, ...rest } = input;
      return poster.post({ kind: 'TRANSFER', ...rest });
    },

    async deposit(input) {
      checkKey(input.idempotencyKey);
      checkText('memo', input.memo, MAX_MEMO);
      const events = input.events ?? [];
      if (events.length > MAX_EVENTS) throw new InvalidArgumentError(`at most ${MAX_EVENTS} events`);
      for (const e of events) {
        if (e.userId === '') throw new InvalidArgumentError('event user_id is required');
        // Money arriving from outside: only the credited owner's top-up or returned withdrawal.
        if (e.kind !== 'TOP_UP' && e.kind !== 'WITHDRAWAL_RETURNED')
          throw new InvalidArgumentError('a deposit carries TOP_UP or WITHDRAWAL_RETURNED events only');
        checkText('event counterparty_name', e.counterpartyName, MAX_COUNTERPARTY_NAME);
      }
      if (input.amount.minor <= 0n) throw depositFailed('INVALID_AMOUNT', 'amount must be positive');
      const settlement = SETTLEMENT_ACCOUNT[input.amount.currency];
      try {
        return await poster.post({
          kind: 'DEPOSIT',
          idempotencyKey: input.idempotencyKey,
          fromAccountNumber: settlement,
          toAccountNumber: input.accountNumber,
          amount: input.amount,
          debitMemo: input.memo,
          creditMemo: input.memo,
          events,
        });
      } catch (err) {
        if (isDomainError(err, ...settlementRefusalCodes)) {
          throw new SettlementAccountRefusedError(`settlement account ${settlement} refused a deposit (${err.code})`, { cause: err });
        }
        throw err;
      }
    },

    getAccountForOwner: ownAccount,

    async getTransferTarget(accountNumber) {
      const account = isCustomerAccountNumber(accountNumber) ? await findAccountByNumber(db, accountNumber) : undefined;
      if (!account || !isTarget(account)) throw accountNotFound();
      return account;
    },

    async getTransferParties(ownerUserId, sourceAccountNumber, targetAccountNumber) {
      // One statement for both sides; malformed numbers are not looked up (as the single reads).
      const numbers = [sourceAccountNumber, targetAccountNumber].filter(isCustomerAccountNumber);
      const found = new Map((await findAccountsByNumbers(db, [...new Set(numbers)])).map((a) => [a.accountNumber, a]));
      const source = found.get(sourceAccountNumber);
      const target = targetAccountNumber === '' ? undefined : found.get(targetAccountNumber);
      return { source: isOwn(source, ownerUserId) ? source : undefined, target: isTarget(target) ? target : undefined };
    },

    debitedToday(account) {
      // The poster's rule (ledger-poster.ts, apply): the counter holds for its day only.
      return account.dayDebitedOn === businessDay(clock(), timeZone) ? account.dayDebitedMinor : 0n;
    },

    listAccounts(ownerUserId) {
      return listAccountsOfOwner(db, ownerUserId);
    },

    async listTransactions(ownerUserId, accountNumber, page, pageSize, snapshotScope) {
      const account = await ownAccount(ownerUserId, accountNumber);
      const size = BigInt(pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE));
      const pageNumber = BigInt(Math.max(page, 1));
      const key = `account:statement-bound:${createHash('sha256').update(`${snapshotScope}\n${account.accountNumber}`).digest('hex')}`;
      let bound = account.postingCount;
      if (pageNumber === 1n) {
        await store.set(key, bound.toString(), { ttlMs: STATEMENT_SNAPSHOT_TTL_MS });
      } else {
        const saved = await store.get(key);
        // Without page 1's bound (expired, or page 1 never read) the current count is the bound.
        if (saved !== null && /^\d+$/.test(saved) && BigInt(saved) <= bound) bound = BigInt(saved);
      }
      const to = bound - (pageNumber - 1n) * size;
      if (to <= 0n) return { lines: [], currency: account.currency };
      const from = to - size > 0n ? to - size : 0n;
      return { lines: await listStatementLines(db, account.id, from, to), currency: account.currency };
    },

    async listTransactionsFiltered(ownerUserId, accountNumber, query) {
      const createdFrom = query.fromDate ? seoulDayStart('from_date', query.fromDate) : undefined;
      const lastDay = query.toDate ? seoulDayStart('to_date', query.toDate) : undefined;
      const createdBefore = lastDay ? new Date(lastDay.getTime() + DAY_MS) : undefined;
      if (createdFrom && lastDay && createdFrom > lastDay) throw new InvalidArgumentError('from_date is after to_date');
      const beforeSeq = query.pageToken ? seqOfPageToken(query.pageToken) : undefined;
      const account = await ownAccount(ownerUserId, accountNumber);
      const size = query.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(query.pageSize, MAX_PAGE_SIZE);
      // One more than the page: whether a next page exists without a second query.
      const lines = await listStatementLinesFiltered(db, account.id, {
        beforeSeq,
        createdFrom,
        createdBefore,
        direction: query.direction,
        limit: size + 1,
      });
      const page = lines.slice(0, size);
      const nextPageToken = lines.length > size ? statementPageTokenAfter(page[page.length - 1]!) : '';
      return { lines: page, currency: account.currency, nextPageToken };
    },

    async closeAccount(ownerUserId, accountNumber) {
      const account = await ownAccount(ownerUserId, accountNumber);
      if (account.closedAt !== null) return account;
      if (account.balanceMinor !== 0n) throw closeFailed('ACCOUNT_BALANCE_NOT_ZERO', 'the account still holds money');
      const closed = await closeEmptyAccount(db, account.id, clock());
      if (closed) return closed;
      // Something changed since the read: a concurrent close (answer it) or a posting that made
      // the balance non-zero (refuse, nothing written).
      const now = await ownAccount(ownerUserId, accountNumber);
      if (now.closedAt === null) throw closeFailed('ACCOUNT_BALANCE_NOT_ZERO', 'the account still holds money');
      return now;
    },

    async updateAccount(ownerUserId, accountNumber, changes) {
      if (changes.name === undefined && changes.color === undefined && changes.bookmarked === undefined)
        throw updateFailed('NOTHING_TO_UPDATE', 'set account_name, account_color or bookmarked');
      const name = changes.name?.trim();
      if (name !== undefined && (name === '' || Array.from(name).length > MAX_ACCOUNT_NAME_CHARS || UNSHOWABLE.test(name)))
        throw updateFailed(
          'INVALID_ACCOUNT_NAME',
          `account_name must be 1-${MAX_ACCOUNT_NAME_CHARS} characters without control characters`,
        );
      if (changes.color !== undefined && !COLOR_FORMAT.test(changes.color))
        throw updateFailed('INVALID_ACCOUNT_COLOR', 'account_color must be # and six hex digits');
      const account = await ownAccount(ownerUserId, accountNumber);
      const updated = await updateAccountDisplay(db, account.id, {
        name,
        color: changes.color?.toUpperCase(),
        bookmarked: changes.bookmarked,
      });
      if (!updated) throw accountNotFound();
      return updated;
    },

    listAllAccounts(ownerUserId) {
      return listAccountsOfOwner(db, ownerUserId, { includeClosed: true });
    },

    async setTransferLimits(input) {
      const account = await ownAccount(input.ownerUserId, input.accountNumber);
      for (const limit of [input.perTransaction, input.perDay]) {
        if (limit.currency !== account.currency) throw limitsFailed('INVALID_AMOUNT', 'limit is not in the account currency');
        if (limit.minor <= 0n) throw limitsFailed('INVALID_AMOUNT', 'limit must be positive');
      }
      if (input.perTransaction.minor > input.perDay.minor)
        throw limitsFailed('INVALID_AMOUNT', 'the per-transaction limit is over the daily limit');
      const updated = await updateTransferLimits(db, account.id, input.perTransaction.minor, input.perDay.minor);
      if (!updated) throw accountNotFound();
      return updated;
    },

    async findEntriesByKeys(keys) {
      if (keys.length === 0 || keys.length > MAX_ENTRY_KEYS) throw new InvalidArgumentError(`give 1 to ${MAX_ENTRY_KEYS} idempotency keys`);
      for (const key of keys) checkKey(key);
      return [...(await findEntriesByKeys(db, [...new Set(keys)])).values()];
    },

    listOutboxEvents(afterId, limit) {
      if (afterId < 0n) throw new InvalidArgumentError('after_id must not be negative');
      return listOutboxAfter(db, afterId, limit === 0 ? 100 : Math.min(Math.max(limit, 1), MAX_OUTBOX_PAGE));
    },
  };
}
