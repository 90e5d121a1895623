import { type CommonCode, failWith, InvalidArgumentError } from '@kfrm/errors';
import {
  AccountServiceService,
  CloseAccountApiError,
  CloseAccountApiError_ErrorCode,
  GetAccountApiError,
  GetAccountApiError_ErrorCode,
  ListTransactionsApiError,
  ListTransactionsApiError_ErrorCode,
  TransactionDirection,
  TransactionType,
  UpdateAccountApiError,
  UpdateAccountApiError_ErrorCode,
  type Account,
  type Transaction,
} from '@kfrm/proto/gen/kfrm/api/account/account';
import {
  CreateAccountApiError,
  CreateAccountApiError_ErrorCode,
  DepositApiError,
  DepositApiError_ErrorCode,
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  GetTransferTargetApiError,
  GetTransferTargetApiError_ErrorCode,
  LedgerServiceService,
  OutboxEventKind,
  OutboxEventType,
  type OutboxEvent,
  type OutboxEventRequest,
  PostTransferApiError,
  PostTransferApiError_ErrorCode,
  SetTransferLimitsApiError,
  SetTransferLimitsApiError_ErrorCode,
  type LedgerAccount,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';
import { apiErrorType, defineService, raises, type CallContext } from '@kfrm/server-kit';
import { createHash } from 'node:crypto';
import type {
  CloseAccountCode,
  UpdateAccountCode,
  CreateAccountCode,
  DepositCode,
  FindAccountCode,
  Ledger,
  PostTransferCode,
  SetTransferLimitsCode,
  StatementDirection,
  StatementPage,
} from './ledger';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, statementPageTokenAfter } from './ledger';

const DIRECTIONS: Partial<Record<TransactionDirection, StatementDirection>> = {
  [TransactionDirection.ALL]: 'ALL',
  [TransactionDirection.DEPOSITS]: 'DEPOSITS',
  [TransactionDirection.WITHDRAWALS]: 'WITHDRAWALS',
};
import type { LedgerEvent, PostResult } from './ledger-poster';
import type { AccountRow, OutboxEventKind as LedgerEventKind, OutboxRow, StatementLine } from './ledger.repository';
import { fromMinor, toMinor, type AmountCode, type Currency, type Money } from './money';

const amountFailed = failWith<AmountCode>();

const CURRENCY_OF: Partial<Record<CurrencyCode, Currency>> = {
  [CurrencyCode.KRW]: 'KRW',
  [CurrencyCode.USD]: 'USD',
  [CurrencyCode.THB]: 'THB',
};
const CODE_OF: Record<Currency, CurrencyCode> = { KRW: CurrencyCode.KRW, USD: CurrencyCode.USD, THB: CurrencyCode.THB };

function currencyOf(code: CurrencyCode): Currency {
  const currency = CURRENCY_OF[code];
  if (!currency) throw amountFailed('INVALID_AMOUNT', 'unsupported currency');
  return currency;
}

/** A wire amount to move: present, positive, exact (reliability 8). */
export function amountFromWire(value: MonetaryValue | undefined): Money {
  if (!value) throw amountFailed('INVALID_AMOUNT', 'amount is required');
  return toMinor({ currency: currencyOf(value.currencyCode), major: value.majorAmount, minor: value.minorAmount });
}

function limitFromWire(value: MonetaryValue | undefined): Money | undefined {
  if (!value) return undefined;
  return toMinor({ currency: currencyOf(value.currencyCode), major: value.majorAmount, minor: value.minorAmount }, { allowZero: true });
}

export function moneyToWire(money: Money): MonetaryValue {
  const { major, minor } = fromMinor(money);
  return { currencyCode: CODE_OF[money.currency], majorAmount: major, minorAmount: minor };
}

/** `debitedTodayMinor`: the ledger's daily-limit counter for today (Ledger.debitedToday). */
function ledgerAccountToWire(a: AccountRow, debitedTodayMinor: bigint): LedgerAccount {
  const zero = { currency: a.currency, minor: 0n };
  return {
    accountNumber: a.accountNumber,
    ownerUserId: a.ownerUserId ?? '',
    accountName: a.name,
    balance: moneyToWire({ currency: a.currency, minor: a.balanceMinor }),
    limitPerTransaction: moneyToWire(
      a.limitPerTransactionMinor === null ? zero : { currency: a.currency, minor: a.limitPerTransactionMinor },
    ),
    limitPerDay: moneyToWire(a.limitPerDayMinor === null ? zero : { currency: a.currency, minor: a.limitPerDayMinor }),
    accountColor: a.color,
    bookmarked: a.bookmarked,
    createdAt: a.createdAt.toISOString(),
    closedAt: a.closedAt === null ? '' : a.closedAt.toISOString(),
    debitedToday: moneyToWire({ currency: a.currency, minor: debitedTodayMinor }),
  };
}

const EVENT_TYPES: Partial<Record<OutboxEventType, LedgerEvent['type']>> = {
  [OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED]: 'TRANSFER_SUCCEED',
};
const EVENT_KINDS: Partial<Record<OutboxEventKind, LedgerEventKind>> = {
  [OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT]: 'TRANSFER_OUT',
  [OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN]: 'TRANSFER_IN',
  [OutboxEventKind.OUTBOX_EVENT_KIND_TOP_UP]: 'TOP_UP',
  [OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL]: 'WITHDRAWAL',
  [OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL_RETURNED]: 'WITHDRAWAL_RETURNED',
};
const WIRE_KINDS: Record<LedgerEventKind, OutboxEventKind> = {
  TRANSFER_OUT: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT,
  TRANSFER_IN: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN,
  TOP_UP: OutboxEventKind.OUTBOX_EVENT_KIND_TOP_UP,
  WITHDRAWAL: OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL,
  WITHDRAWAL_RETURNED: OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL_RETURNED,
};

function eventFromWire(e: OutboxEventRequest): LedgerEvent {
  const type = EVENT_TYPES[e.type];
  if (!type) throw new InvalidArgumentError('event type is required');
  if (e.kind === OutboxEventKind.OUTBOX_EVENT_KIND_UNSPECIFIED) {
    // A caller from before facts: its text is kept and relayed as it is.
    if (e.title === '' && e.content === '') throw new InvalidArgumentError('event kind is required');
    return { userId: e.userId, type, kind: 'TEXT', title: e.title, content: e.content };
  }
  const kind = EVENT_KINDS[e.kind];
  if (!kind) throw new InvalidArgumentError('event kind is not known');
  // Text next to facts would be silently dropped: refuse it instead, so no caller believes it is shown.
  if (e.title !== '' || e.content !== '') throw new InvalidArgumentError('event title and content are only for events without a kind');
  return { userId: e.userId, type, kind, counterpartyName: e.counterpartyName };
}

function outboxEventToWire(e: OutboxRow): OutboxEvent {
  const common = {
    id: e.id,
    entryId: e.entryId,
    userId: e.userId,
    type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
    createdAt: e.createdAt.toISOString(),
  };
  if ('text' in e.body) {
    const { title, content } = e.body.text;
    return {
      ...common,
      title,
      content,
      kind: OutboxEventKind.OUTBOX_EVENT_KIND_UNSPECIFIED,
      amount: undefined,
      accountNumber: '',
      counterpartyName: '',
      memo: '',
    };
  }
  const f = e.body.facts;
  return {
    ...common,
    title: '',
    content: '',
    kind: WIRE_KINDS[f.kind],
    amount: moneyToWire({ currency: f.currency, minor: f.amountMinor }),
    accountNumber: f.accountNumber,
    counterpartyName: f.counterpartyName,
    memo: f.memo,
  };
}

function transferResponse(r: PostResult) {
  return {
    entryId: r.entryId,
    fromBalanceAfter: moneyToWire(r.from.balanceAfter),
    toBalanceAfter: moneyToWire(r.to.balanceAfter),
    postedAt: r.postedAt.toISOString(),
  };
}

/** An amount as the audit log records it: "KRW 50000.0" (currency, major, minor as sent). */
function amountForAudit(value: MonetaryValue | undefined): string {
  if (!value) return '';
  return `${CurrencyCode[value.currencyCode] ?? value.currencyCode} ${value.majorAmount}.${value.minorAmount}`;
}

/** The internal LedgerService: the only way other services change or read the ledger. */
export function ledgerHandlers(
  ledger: Ledger,
  /** Maker-checker: an operator's deposit above this (KRW; any amount in another currency) waits for approval. */
  options: { approvalThresholdKrw: number } = { approvalThresholdKrw: 1_000_000 },
) {
  const threshold = BigInt(options.approvalThresholdKrw);
  const internal = 'internal' as const;
  const accountToWireToday = (a: AccountRow) => ledgerAccountToWire(a, ledger.debitedToday(a));
  return defineService(
    LedgerServiceService,
    {
      async createAccount(request) {
        const currency = currencyOf(request.currency);
        const account = await ledger.createAccount({
          ownerUserId: request.ownerUserId,
          name: request.accountName,
          currency,
          limitPerTransaction: limitFromWire(request.limitPerTransaction),
          limitPerDay: limitFromWire(request.limitPerDay),
          color: request.accountColor,
          idempotencyKey: request.idempotencyKey,
        });
        return { account: accountToWireToday(account) };
      },
      async postTransfer(request) {
        const events = request.events.map(eventFromWire);
        const result = await ledger.postTransfer({
          idempotencyKey: request.idempotencyKey,
          fromAccountNumber: request.fromAccountNumber,
          toAccountNumber: request.toAccountNumber,
          amount: amountFromWire(request.amount),
          debitMemo: request.debitMemo,
          creditMemo: request.creditMemo,
          events,
          ...(request.toExternalSettlement ? { toExternalSettlement: true } : {}),
          ...(request.withdrawal ? { withdrawal: true } : {}),
          ...(request.sourceOwnerUserId !== '' ? { sourceOwnerUserId: request.sourceOwnerUserId } : {}),
        });
        return transferResponse(result);
      },
      async deposit(request) {
        const result = await ledger.deposit({
          idempotencyKey: request.idempotencyKey,
          accountNumber: request.accountNumber,
          amount: amountFromWire(request.amount),
          memo: request.memo,
          events: request.events.map(eventFromWire),
        });
        return { entryId: result.entryId, balanceAfter: moneyToWire(result.to.balanceAfter), postedAt: result.postedAt.toISOString() };
      },
      async getAccountForOwner(request) {
        return { account: accountToWireToday(await ledger.getAccountForOwner(request.ownerUserId, request.accountNumber)) };
      },
      async getTransferTarget(request) {
        const a = await ledger.getTransferTarget(request.accountNumber);
        return { accountNumber: a.accountNumber, ownerUserId: a.ownerUserId ?? '', currency: CODE_OF[a.currency] };
      },
      async getTransferParties(request) {
        const { source, target } = await ledger.getTransferParties(
          request.ownerUserId,
          request.sourceAccountNumber,
          request.targetAccountNumber,
        );
        return {
          source: source ? accountToWireToday(source) : undefined,
          // The target's holder and currency only: its balance and limits are not the caller's business.
          target: target
            ? { accountNumber: target.accountNumber, ownerUserId: target.ownerUserId ?? '', currency: CODE_OF[target.currency] }
            : undefined,
        };
      },
      async listOutboxEvents(request) {
        const events = await ledger.listOutboxEvents(request.afterId, request.limit);
        return { events: events.map(outboxEventToWire) };
      },
      async findEntriesByKeys(request) {
        const entries = await ledger.findEntriesByKeys(request.idempotencyKeys);
        return {
          entries: entries.map((e) => ({
            idempotencyKey: e.idempotencyKey,
            entryId: e.id,
            postings: e.postings.map((p) => ({
              accountNumber: p.accountNumber,
              currency: CODE_OF[p.currency],
              amountMinor: p.amountMinor,
            })),
          })),
        };
      },
      async listAccountsOfOwner(request) {
        return { accounts: (await ledger.listAllAccounts(request.ownerUserId)).map(accountToWireToday) };
      },
      async setTransferLimits(request) {
        const account = await ledger.setTransferLimits({
          ownerUserId: request.ownerUserId,
          accountNumber: request.accountNumber,
          perTransaction: amountFromWire(request.limitPerTransaction),
          perDay: amountFromWire(request.limitPerDay),
        });
        return { account: accountToWireToday(account) };
      },
    },
    {
      createAccount: {
        access: internal,
        callers: ['casa'],
        errors: apiErrorType(CreateAccountApiError, CreateAccountApiError_ErrorCode),
        raises: raises<AmountCode | CreateAccountCode>(),
      },
      postTransfer: {
        access: internal,
        callers: ['funding', 'transfer'],
        errors: apiErrorType(PostTransferApiError, PostTransferApiError_ErrorCode),
        raises: raises<AmountCode | PostTransferCode>(),
      },
      // A misconfigured settlement account is not one of these: ledger.ts answers it INTERNAL.
      deposit: {
        access: internal,
        callers: ['funding', 'user'],
        // Money from outside: a teller's act (or a service's, e.g. funding's settlement).
        operator: ['teller'],
        audit: {
          action: 'ledger.deposit',
          target: (r) => `account:${r.accountNumber}`,
          detail: (r) => ({ amount: amountForAudit(r.amount), idempotency_key: r.idempotencyKey }),
        },
        approval: {
          // Won have no minor units; another currency has no rate here, so it always waits.
          required: (r) =>
            r.amount?.currencyCode !== CurrencyCode.KRW ||
            r.amount.majorAmount > threshold ||
            (r.amount.majorAmount === threshold && r.amount.minorAmount > 0n),
        },
        errors: apiErrorType(DepositApiError, DepositApiError_ErrorCode),
        raises: raises<AmountCode | DepositCode>(),
      },
      getAccountForOwner: {
        access: internal,
        callers: ['funding', 'transfer'],
        errors: apiErrorType(GetAccountForOwnerApiError, GetAccountForOwnerApiError_ErrorCode),
        raises: raises<FindAccountCode>(),
      },
      getTransferTarget: {
        access: internal,
        callers: ['transfer'],
        errors: apiErrorType(GetTransferTargetApiError, GetTransferTargetApiError_ErrorCode),
        raises: raises<FindAccountCode>(),
      },
      // The transfer pre-check's read; no error codes: a side not found is left unset.
      getTransferParties: { access: internal, callers: ['transfer'], raises: raises() },
      listOutboxEvents: { access: internal, callers: ['notification'], raises: raises() },
      listAccountsOfOwner: { access: internal, callers: ['user'], raises: raises() },
      findEntriesByKeys: { access: internal, callers: ['funding'], raises: raises() },
      setTransferLimits: {
        access: internal,
        callers: ['transfer'],
        operator: ['support'],
        audit: {
          action: 'ledger.limit_change',
          target: (r) => `account:${r.accountNumber}`,
          detail: (r) => ({ per_transaction: amountForAudit(r.limitPerTransaction), per_day: amountForAudit(r.limitPerDay) }),
        },
        errors: apiErrorType(SetTransferLimitsApiError, SetTransferLimitsApiError_ErrorCode),
        raises: raises<SetTransferLimitsCode>(),
      },
    },
  );
}

/** What sessionUser raises (CommonApiError: every method may answer it). */
type SessionUserCode = Extract<CommonCode, 'UNAUTHENTICATED_USER'>;

function sessionUser(ctx: CallContext): string {
  const userId = ctx.principal.session?.userId;
  // The guard guarantees a session at this level; without one nothing is anyone's.
  if (!userId) throw failWith<SessionUserCode>()('UNAUTHENTICATED_USER', 'client certificate or session is not valid');
  return userId;
}

function accountToWire(a: AccountRow): Account {
  return {
    accountNumber: a.accountNumber,
    accountName: a.name,
    balance: moneyToWire({ currency: a.currency, minor: a.balanceMinor }),
    accountColor: a.color,
    bookmarked: a.bookmarked,
  };
}

/** Credits read as 입금 (DEPOSIT); a transfer's debit as 이체 (TRANSFER); any other debit as 출금 (WITHDRAW). */
function transactionType(line: StatementLine): TransactionType {
  if (line.amountMinor > 0n) return TransactionType.DEPOSIT;
  return line.kind === 'TRANSFER' ? TransactionType.TRANSFER : TransactionType.WITHDRAW;
}

/** The app's AccountService: the session user's own accounts only. */
export function accountHandlers(ledger: Ledger) {
  const session = 'session' as const;
  return defineService(
    AccountServiceService,
    {
      async listAccounts(_request, ctx) {
        return { accounts: (await ledger.listAccounts(sessionUser(ctx))).map(accountToWire) };
      },
      async getAccount(request, ctx) {
        const a = await ledger.getAccountForOwner(sessionUser(ctx), request.accountNumber);
        return {
          accountNumber: a.accountNumber,
          accountName: a.name,
          balance: moneyToWire({ currency: a.currency, minor: a.balanceMinor }),
          accountColor: a.color,
          bookmarked: a.bookmarked,
        };
      },
      async closeAccount(request, ctx) {
        const account = await ledger.closeAccount(sessionUser(ctx), request.accountNumber);
        return { success: true, closedAt: account.closedAt!.toISOString() };
      },
      async updateAccount(request, ctx) {
        const account = await ledger.updateAccount(sessionUser(ctx), request.accountNumber, {
          name: request.accountName,
          color: request.accountColor,
          bookmarked: request.bookmarked,
        });
        return { account: accountToWire(account) };
      },
      async listTransactions(request, ctx) {
        const toWire = (page: StatementPage): Transaction[] =>
          page.lines.map((l) => ({
            transactionId: l.entryId.toString(),
            transactionType: transactionType(l),
            transactionDate: l.createdAt.toISOString(),
            amount: moneyToWire({ currency: page.currency, minor: l.amountMinor < 0n ? -l.amountMinor : l.amountMinor }),
            afterBalance: moneyToWire({ currency: page.currency, minor: l.balanceAfterMinor }),
            transactionMemo: l.memo,
          }));
        const direction = DIRECTIONS[request.direction];
        if (!direction) throw new InvalidArgumentError('direction must be ALL, DEPOSITS or WITHDRAWALS');
        // Cursor mode (the extension) as soon as a filter or a page token is given.
        if (request.fromDate !== '' || request.toDate !== '' || direction !== 'ALL' || request.pageToken !== '') {
          if (request.page > 1) throw new InvalidArgumentError('page cannot be combined with filters or page_token; use next_page_token');
          const page = await ledger.listTransactionsFiltered(sessionUser(ctx), request.accountNumber, {
            fromDate: request.fromDate,
            toDate: request.toDate,
            direction,
            pageSize: request.pageSize,
            pageToken: request.pageToken,
          });
          return { transactions: toWire(page), nextPageToken: page.nextPageToken };
        }
        // Page 1's snapshot bound is kept per session (hashed: the token itself is a secret).
        const scope = createHash('sha256')
          .update(ctx.principal.session?.sessionToken ?? '')
          .digest('hex');
        const page = await ledger.listTransactions(sessionUser(ctx), request.accountNumber, request.page, request.pageSize, scope);
        // A first page also offers the cursor, so an app can page on with tokens from the start.
        const last = page.lines[page.lines.length - 1];
        const full = page.lines.length === (request.pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(request.pageSize, MAX_PAGE_SIZE));
        const nextPageToken = request.page <= 1 && full && last && last.accountSeq > 1n ? statementPageTokenAfter(last) : '';
        return { transactions: toWire(page), nextPageToken };
      },
    },
    {
      listAccounts: { access: session, raises: raises<SessionUserCode>() },
      getAccount: {
        access: session,
        errors: apiErrorType(GetAccountApiError, GetAccountApiError_ErrorCode),
        raises: raises<SessionUserCode | FindAccountCode>(),
      },
      listTransactions: {
        access: session,
        errors: apiErrorType(ListTransactionsApiError, ListTransactionsApiError_ErrorCode),
        raises: raises<SessionUserCode | FindAccountCode>(),
      },
      closeAccount: {
        access: session,
        idempotent: true,
        errors: apiErrorType(CloseAccountApiError, CloseAccountApiError_ErrorCode),
        raises: raises<SessionUserCode | CloseAccountCode>(),
      },
      updateAccount: {
        access: session,
        idempotent: true,
        errors: apiErrorType(UpdateAccountApiError, UpdateAccountApiError_ErrorCode),
        raises: raises<SessionUserCode | UpdateAccountCode>(),
      },
    },
  );
}
