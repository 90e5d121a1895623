import { createHash } from 'node:crypto';
import { DependencyUnavailableError, failWith, type DomainError } from '@kfrm/errors';
import {
  findEntriesByKeys,
  lockAccounts,
  writeBatch,
  type AccountRow,
  type LedgerDb,
  type LedgerTrx,
  type NewEntryRow,
  type NewOutboxRow,
  type NewPostingRow,
  type OutboxEventKind,
  type StoredEntry,
} from './ledger.repository';
import { ClaimRaceError, withLedgerTransaction, type LedgerRetryOptions } from './ledger-transaction';
import { INT64_MAX, INT64_MIN, type Money } from './money';

/** WITHDRAWAL (migration 006): a transfer to the settlement account out to the owner's own bank account. */
export type PostingKind = 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL';

/**
 * A notification written to the outbox with the entry. Facts only: the amount, the account and
 * the memo are taken from the entry itself, so an event cannot disagree with what was posted.
 * `TEXT` is for callers that still send rendered text (before facts); it is stored as given.
 */
export type LedgerEvent =
  | { userId: string; type: 'TRANSFER_SUCCEED'; kind: OutboxEventKind; counterpartyName: string }
  | { userId: string; type: 'TRANSFER_SUCCEED'; kind: 'TEXT'; title: string; content: string };

/** One journal entry to post: `amount` moves from one account to the other. */
export interface PostRequest {
  kind: PostingKind;
  idempotencyKey: string;
  fromAccountNumber: string;
  toAccountNumber: string;
  amount: Money;
  debitMemo: string;
  creditMemo: string;
  events: LedgerEvent[];
  /** When set, the source must be this user's account (else INVALID_SOURCE_ACCOUNT). */
  sourceOwnerUserId?: string;
  /** A transfer out of the bank: the target is the external-settlement (SYSTEM) account. */
  toSettlement?: boolean;
}

export interface PostedSide {
  accountNumber: string;
  balanceAfter: Money;
}

export interface PostResult {
  entryId: bigint;
  postedAt: Date;
  from: PostedSide;
  to: PostedSide;
}

export interface LedgerPosterOptions {
  /** Most postings per transaction. 1 = one transaction per posting (unbatched). Default 32. */
  maxBatchSize?: number;
  /**
   * How long the first posting of a batch waits for others (ms) while another batch is in flight.
   * An idle poster (no batch in flight) never waits: its batch starts in the same turn of the
   * event loop, with what arrived in that turn. 0: a batch starts as soon as a transaction slot is
   * free, with whatever has queued meanwhile. Default 1.
   */
  lingerMs?: number;
  /** Batches in flight at once (each holds one connection). Default 2. */
  maxConcurrentBatches?: number;
  retry?: LedgerRetryOptions;
  /**
   * Most postings waiting for a batch; more are refused at once with LedgerOverloadedError
   * (UNAVAILABLE) instead of growing memory and latency without bound. Default 10000.
   */
  maxQueued?: number;
  /** Clock for the daily limit's business day. */
  now?: () => Date;
  /** Time zone of the business day. Default Asia/Seoul. */
  timeZone?: string;
  /**
   * Called after a COMMIT that wrote outbox rows (once per batch, not per row): the composition
   * announces it so the notification relay reads the outbox now rather than at its next poll.
   * Must not throw or block (it runs before the callers are answered).
   */
  onOutboxCommitted?: () => void;
  /**
   * Called once per batch when it has committed or failed, before its callers are answered (the
   * composition records it in metrics). Must not block; whatever it throws is ignored.
   */
  onBatch?: (report: LedgerBatchReport) => void;
}

/** What one batch was: its size, how long it took and how long its postings waited for it. */
export interface LedgerBatchReport {
  postings: number;
  outcome: 'committed' | 'failed';
  /** From the batch's start to its COMMIT answered (or its failure), every attempt included. */
  seconds: number;
  /** Transaction attempts (more than 1 after a serialization failure, deadlock or lost claim). */
  attempts: number;
  /** Each posting's wait, from `post()` to its batch's start. */
  waitsSeconds: number[];
}

interface Pending {
  request: PostRequest;
  requestHash: string;
  /** performance.now() at `post()`. */
  queuedAt: number;
  resolve(result: PostResult): void;
  reject(err: unknown): void;
}

/** The posting queue is full: the database cannot keep up. Nothing was posted; retry later (UNAVAILABLE). */
export class LedgerOverloadedError extends DependencyUnavailableError {
  override readonly name = 'LedgerOverloadedError';
}

type Outcome = { ok: true; result: PostResult } | { ok: false; error: unknown };

/** The version of `requestHashOf` that new entries store (entries.request_hash_version). */
export const REQUEST_HASH_VERSION = 2;

/**
 * SHA-256 over the money fields of the request, in a fixed order: what moves, from where, to
 * where, and on whose authority. Memos and notification events are display text and stay out,
 * so rewording them never turns a retry into IDEMPOTENCY_KEY_REUSED; a retry with other text
 * gets the first result (and the first text).
 */
export function requestHashOf(r: PostRequest): string {
  const canonical = JSON.stringify([
    r.kind,
    r.fromAccountNumber,
    r.toAccountNumber,
    r.amount.currency,
    r.amount.minor.toString(),
    r.sourceOwnerUserId ?? '',
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Whether a committed entry was posted for this request. Version-2 entries compare hashes.
 * Version-1 entries (before migration 003) hashed the memos and notification text as well, which
 * updated callers no longer send, so their old hash could never match a retry; they are compared
 * on the same money fields, read from their postings: kind, debited and credited account,
 * currency, amount, and the source owner when the request names one.
 */
export function sameRequest(p: { request: PostRequest; requestHash: string }, entry: StoredEntry): boolean {
  if (entry.requestHashVersion === REQUEST_HASH_VERSION) return entry.requestHash === p.requestHash;
  if (entry.requestHashVersion !== 1) return false;
  const r = p.request;
  const debit = entry.postings.find((x) => x.amountMinor < 0n);
  const credit = entry.postings.find((x) => x.amountMinor > 0n);
  if (!debit || !credit || entry.postings.length !== 2) return false;
  return (
    entry.kind === r.kind &&
    debit.accountNumber === r.fromAccountNumber &&
    credit.accountNumber === r.toAccountNumber &&
    credit.currency === r.amount.currency &&
    credit.amountMinor === r.amount.minor &&
    (r.sourceOwnerUserId === undefined || debit.ownerUserId === r.sourceOwnerUserId)
  );
}

/** 'YYYY-MM-DD' of `now` in the time zone (the daily limit resets at local midnight). */
export function businessDay(now: Date, timeZone: string): string {
  let format = dayFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormats.set(timeZone, format);
  }
  return format.format(now);
}

/** One formatter per time zone: making one (time zone data, ICU) costs far more than formatting, on every batch. */
const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** What a TRANSFER posting is refused with. */
export type TransferRefusalCode =
  | 'INVALID_AMOUNT'
  | 'INVALID_SOURCE_ACCOUNT'
  | 'INVALID_TARGET_ACCOUNT'
  | 'TRANSFER_LIMIT_EXCEEDED'
  | 'INSUFFICIENT_BALANCE'
  | 'IDEMPOTENCY_KEY_REUSED';
/**
 * What a DEPOSIT posting is refused with. Its source is the settlement account, so its
 * INVALID_SOURCE_ACCOUNT (missing, not SYSTEM) and INSUFFICIENT_BALANCE (overdraft not allowed,
 * or past int64) are about the bank's configuration, not the request: ledger.ts decides what
 * they mean for Deposit.
 */
export type DepositRefusalCode =
  | 'INVALID_AMOUNT'
  | 'INVALID_SOURCE_ACCOUNT'
  | 'ACCOUNT_NOT_FOUND'
  | 'INSUFFICIENT_BALANCE'
  | 'IDEMPOTENCY_KEY_REUSED';
export type PostingRefusalCode = TransferRefusalCode | DepositRefusalCode;

const refuse = failWith<PostingRefusalCode>();

/**
 * Posts journal entries, batching concurrent requests: up to `maxBatchSize` postings share one
 * READ COMMITTED transaction that locks every account they touch in id order, checks and applies
 * each posting in arrival order against the locked balances (so one refused posting does not
 * fail the others, and in-flight debits count), writes entries, postings, balances and outbox
 * events, and commits. Each caller is answered only after that COMMIT. A failed COMMIT is
 * retried as a whole (serialization failure, deadlock, lost idempotency claim); when retries run
 * out, or on any other failure, every posting of the batch fails with the same error and none
 * is posted.
 */
export class LedgerPoster {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly idle = new Set<() => void>();
  private readonly maxBatchSize: number;
  private readonly lingerMs: number;
  private readonly maxConcurrentBatches: number;
  private readonly maxQueued: number;
  private readonly now: () => Date;
  private readonly timeZone: string;

  constructor(
    private readonly db: LedgerDb,
    private readonly options: LedgerPosterOptions = {},
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 32;
    this.lingerMs = options.lingerMs ?? 1;
    this.maxConcurrentBatches = options.maxConcurrentBatches ?? 2;
    this.maxQueued = options.maxQueued ?? 10_000;
    if (!Number.isInteger(this.maxBatchSize) || this.maxBatchSize < 1) throw new RangeError('maxBatchSize must be a positive integer');
    if (!Number.isInteger(this.maxConcurrentBatches) || this.maxConcurrentBatches < 1)
      throw new RangeError('maxConcurrentBatches must be a positive integer');
    if (!(this.lingerMs >= 0)) throw new RangeError('lingerMs must be >= 0');
    this.now = options.now ?? (() => new Date());
    this.timeZone = options.timeZone ?? 'Asia/Seoul';
  }

  /** Resolves after the entry is committed (or was committed before under the same key). */
  post(request: PostRequest): Promise<PostResult> {
    if (this.closed) return Promise.reject(new Error('the ledger poster is closed'));
    if (this.queue.length >= this.maxQueued) return Promise.reject(new LedgerOverloadedError('too many postings waiting'));
    const requestHash = requestHashOf(request);
    return new Promise<PostResult>((resolve, reject) => {
      this.queue.push({ request, requestHash, queuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Postings waiting for a batch, and batches in flight (for metrics). */
  load(): { queued: number; batchesInFlight: number } {
    return { queued: this.queue.length, batchesInFlight: this.inFlight };
  }

  /** Stops taking postings; resolves when every queued and running batch is done. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    this.drain();
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private schedule(): void {
    // Full batches go at once; a partial one waits for the linger (or for a free slot).
    while (this.inFlight < this.maxConcurrentBatches && this.queue.length >= this.maxBatchSize) this.startBatch();
    if (this.queue.length === 0 || this.inFlight >= this.maxConcurrentBatches) return;
    if (this.lingerMs === 0 || this.closed) {
      this.drain();
    } else if (this.inFlight === 0) {
      // Idle: nobody's commit to wait for, so a linger would only add latency (a lone caller
      // would pay it on every posting). The batch takes what arrives in this turn of the loop.
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.drain();
      });
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, this.lingerMs);
    }
  }

  private drain(): void {
    while (this.inFlight < this.maxConcurrentBatches && this.queue.length > 0) this.startBatch();
  }

  private startBatch(): void {
    const batch = this.queue.splice(0, this.maxBatchSize);
    this.inFlight++;
    void this.runBatch(batch).finally(() => {
      this.inFlight--;
      // Requests that queued while every slot was busy have waited long enough: no linger.
      if (this.queue.length > 0) this.drain();
      if (this.queue.length === 0 && this.inFlight === 0) {
        for (const resolve of this.idle) resolve();
        this.idle.clear();
      }
    });
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const startedAt = performance.now();
    let attempts = 0;
    let outcomes: Outcome[];
    let wroteEvents = false;
    try {
      // Optimistic first: claim the keys without looking them up. When a key turns out to be
      // taken (a replay, a reuse, or a concurrent claim), the attempt is rolled back and redone
      // with a lookup of the committed entries, which decides replays and reuses.
      let lookUpKeys = false;
      outcomes = await withLedgerTransaction(
        this.db,
        async (trx, attemptNumber) => {
          attempts = attemptNumber;
          try {
            const attempt = await this.postBatch(trx, batch, lookUpKeys);
            // Decided by the attempt that commits (a retried attempt overwrites an earlier one). A
            // replay of an earlier posting counts too: a needless wake-up costs one outbox read.
            wroteEvents = attempt.some((o, i) => o.ok && batch[i]!.request.events.length > 0);
            return attempt;
          } catch (err) {
            if (err instanceof ClaimRaceError) lookUpKeys = true;
            throw err;
          }
        },
        this.options.retry,
      );
    } catch (err) {
      this.report(batch, 'failed', startedAt, attempts);
      for (const p of batch) p.reject(err);
      return;
    }
    this.report(batch, 'committed', startedAt, attempts);
    if (wroteEvents) this.options.onOutboxCommitted?.();
    // Only now, after COMMIT, does anyone hear about their posting.
    outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.result) : batch[i]!.reject(o.error)));
  }

  private report(batch: Pending[], outcome: LedgerBatchReport['outcome'], startedAt: number, attempts: number): void {
    const onBatch = this.options.onBatch;
    if (!onBatch) return;
    try {
      onBatch({
        postings: batch.length,
        outcome,
        seconds: (performance.now() - startedAt) / 1000,
        // 0 when the transaction could not even begin (no connection): it was still one try.
        attempts: Math.max(1, attempts),
        waitsSeconds: batch.map((p) => Math.max(0, startedAt - p.queuedAt) / 1000),
      });
    } catch {
      // Metrics must never change what the callers are answered.
    }
  }

  /** One attempt at the batch, inside its transaction. Pure function of the locked state. */
  private async postBatch(trx: LedgerTrx, batch: Pending[], lookUpKeys: boolean): Promise<Outcome[]> {
    const today = businessDay(this.now(), this.timeZone);
    const numbers = new Set<string>();
    const keys = new Set<string>();
    for (const p of batch) {
      numbers.add(p.request.fromAccountNumber);
      numbers.add(p.request.toAccountNumber);
      keys.add(p.request.idempotencyKey);
    }
    const locked = await lockAccounts(trx, [...numbers].sort());
    const accounts = new Map<string, AccountRow>(locked.map((a) => [a.accountNumber, { ...a }]));
    const changed = new Set<AccountRow>();
    // A key committed before: a replay (same body) or a reuse (another body). The claim below
    // is still INSERT ... ON CONFLICT; this read only tells which postings not to apply. It runs
    // after the account locks, so a duplicate that held them has committed and is seen here.
    const stored = lookUpKeys ? await findEntriesByKeys(trx, [...keys].sort()) : new Map<string, StoredEntry>();

    // Keys decided earlier in this batch: same key again gets the same answer.
    const seen = new Map<string, { hash: string; outcome: Outcome | 'new'; index: number }>();
    const outcomes: (Outcome | 'new' | { sameAs: number })[] = [];
    const applied: {
      index: number;
      from: AccountRow;
      to: AccountRow;
      fromAfter: bigint;
      toAfter: bigint;
      fromSeq: bigint;
      toSeq: bigint;
    }[] = [];

    batch.forEach((p, index) => {
      const r = p.request;
      const earlier = stored.get(r.idempotencyKey);
      if (earlier) {
        outcomes.push(sameRequest(p, earlier) ? { ok: true, result: replayResult(earlier) } : reused());
        return;
      }
      const prior = seen.get(r.idempotencyKey);
      if (prior && (prior.outcome === 'new' || prior.hash === p.requestHash)) {
        outcomes.push(prior.hash === p.requestHash ? { sameAs: prior.index } : reused());
        return;
      }
      const check = this.apply(r, accounts, today);
      if (!check.ok) {
        outcomes.push(check);
        seen.set(r.idempotencyKey, { hash: p.requestHash, outcome: check, index });
        return;
      }
      changed.add(check.from).add(check.to);
      applied.push({ index, ...check });
      outcomes.push('new');
      seen.set(r.idempotencyKey, { hash: p.requestHash, outcome: 'new', index });
    });

    if (!lookUpKeys) {
      // A refused posting may be the replay of one that succeeded before (same key): its answer
      // is the first result (or IDEMPOTENCY_KEY_REUSED), not this refusal. Refusals changed
      // nothing, so correcting them leaves the other postings' outcomes valid.
      const refusedKeys = new Set<string>();
      outcomes.forEach((o, i) => {
        if (typeof o === 'object' && 'ok' in o && !o.ok) refusedKeys.add(batch[i]!.request.idempotencyKey);
      });
      if (refusedKeys.size > 0) {
        const found = await findEntriesByKeys(trx, [...refusedKeys].sort());
        outcomes.forEach((o, i) => {
          const earlier = found.get(batch[i]!.request.idempotencyKey);
          if (earlier && typeof o === 'object' && 'ok' in o && !o.ok) {
            outcomes[i] = sameRequest(batch[i]!, earlier) ? { ok: true, result: replayResult(earlier) } : reused();
          }
        });
      }
    }

    const results = new Map<number, PostResult>();
    if (applied.length > 0) {
      const entryRows: NewEntryRow[] = applied
        .map(({ index }) => {
          const r = batch[index]!.request;
          return {
            idempotencyKey: r.idempotencyKey,
            requestHash: batch[index]!.requestHash,
            requestHashVersion: REQUEST_HASH_VERSION,
            kind: r.kind,
            memo: r.debitMemo,
          };
        })
        // Keys in a fixed order, so two transactions claiming overlapping keys cannot deadlock.
        .sort((a, b) => (a.idempotencyKey < b.idempotencyKey ? -1 : a.idempotencyKey > b.idempotencyKey ? 1 : 0));
      const postings: NewPostingRow[] = [];
      const events: NewOutboxRow[] = [];
      for (const a of applied) {
        const r = batch[a.index]!.request;
        const k = r.idempotencyKey;
        const currency = r.amount.currency;
        postings.push(
          {
            idempotencyKey: k,
            accountId: a.from.id,
            currency,
            amountMinor: -r.amount.minor,
            balanceAfterMinor: a.fromAfter,
            accountSeq: a.fromSeq,
            memo: r.debitMemo,
          },
          {
            idempotencyKey: k,
            accountId: a.to.id,
            currency,
            amountMinor: r.amount.minor,
            balanceAfterMinor: a.toAfter,
            accountSeq: a.toSeq,
            memo: r.creditMemo,
          },
        );
        for (const e of r.events) events.push({ idempotencyKey: k, userId: e.userId, type: e.type, body: outboxBody(r, e) });
      }
      const balances = [...changed].map((a) => ({
        id: a.id,
        balanceMinor: a.balanceMinor,
        postingCount: a.postingCount,
        dayDebitedOn: a.dayDebitedOn,
        dayDebitedMinor: a.dayDebitedMinor,
      }));
      const claimed = await writeBatch(trx, { entries: entryRows, postings, balances, events });
      if (claimed.size !== entryRows.length) throw new ClaimRaceError('an idempotency key was claimed concurrently');
      for (const a of applied) {
        const r = batch[a.index]!.request;
        const entry = claimed.get(r.idempotencyKey)!;
        const currency = r.amount.currency;
        results.set(a.index, {
          entryId: entry.id,
          postedAt: entry.createdAt,
          from: { accountNumber: a.from.accountNumber, balanceAfter: { currency, minor: a.fromAfter } },
          to: { accountNumber: a.to.accountNumber, balanceAfter: { currency, minor: a.toAfter } },
        });
      }
    }
    const resolved: Outcome[] = [];
    outcomes.forEach((o, i) => {
      if (o === 'new') resolved.push({ ok: true, result: results.get(i)! });
      else if ('sameAs' in o) resolved.push(resolved[o.sameAs]!);
      else resolved.push(o);
    });
    return resolved;
  }

  /** The posting's own checks, in a fixed order; on success the in-memory accounts are updated. */
  private apply(
    r: PostRequest,
    accounts: Map<string, AccountRow>,
    today: string,
  ):
    | { ok: true; from: AccountRow; to: AccountRow; fromAfter: bigint; toAfter: bigint; fromSeq: bigint; toSeq: bigint }
    | { ok: false; error: DomainError<PostingRefusalCode> } {
    // A withdrawal debits a customer account like a transfer (limits and balance included).
    const transfer = r.kind === 'TRANSFER' || r.kind === 'WITHDRAWAL';
    const fail = (code: PostingRefusalCode, message: string) => ({ ok: false as const, error: refuse(code, message) });
    const amount = r.amount.minor;
    if (amount <= 0n || amount > INT64_MAX) return fail('INVALID_AMOUNT', 'amount must be positive and fit int64');

    const from = accounts.get(r.fromAccountNumber);
    if (!from || from.kind !== (transfer ? 'CUSTOMER' : 'SYSTEM')) return fail('INVALID_SOURCE_ACCOUNT', 'source account is not valid');
    if (r.sourceOwnerUserId !== undefined && from.ownerUserId !== r.sourceOwnerUserId)
      return fail('INVALID_SOURCE_ACCOUNT', 'source account is not valid');
    // A closed account sends nothing and receives nothing (its statement stays).
    if (from.closedAt !== null) return fail('INVALID_SOURCE_ACCOUNT', 'source account is closed');
    if (from.currency !== r.amount.currency) return fail('INVALID_AMOUNT', 'amount is not in the account currency');

    const to = accounts.get(r.toAccountNumber);
    const missingTarget = transfer ? 'INVALID_TARGET_ACCOUNT' : 'ACCOUNT_NOT_FOUND';
    const targetKind = transfer && r.toSettlement ? 'SYSTEM' : 'CUSTOMER';
    if (!to || to.kind !== targetKind || to === from || to.closedAt !== null)
      return fail(missingTarget, transfer ? 'target account is not valid' : 'account not found');
    if (to.currency !== r.amount.currency)
      return transfer
        ? fail('INVALID_TARGET_ACCOUNT', 'target account is in another currency')
        : fail('INVALID_AMOUNT', 'amount is not in the account currency');

    let dayDebited = from.dayDebitedOn === today ? from.dayDebitedMinor : 0n;
    if (transfer) {
      if (from.limitPerTransactionMinor !== null && amount > from.limitPerTransactionMinor)
        return fail('TRANSFER_LIMIT_EXCEEDED', 'amount exceeds the per-transaction limit');
      if (from.limitPerDayMinor !== null && dayDebited + amount > from.limitPerDayMinor)
        return fail('TRANSFER_LIMIT_EXCEEDED', 'amount exceeds the daily limit');
      // Saturating: without a daily limit the counter only has to stay a valid int64.
      // biome-ignore lint/complexity/useMathMinMax: bigint operands
      dayDebited = dayDebited + amount > INT64_MAX ? INT64_MAX : dayDebited + amount;
    }
    const fromAfter = from.balanceMinor - amount;
    if ((fromAfter < 0n && !from.allowOverdraft) || fromAfter < INT64_MIN) return fail('INSUFFICIENT_BALANCE', 'insufficient balance');
    const toAfter = to.balanceMinor + amount;
    if (toAfter > INT64_MAX) return fail('INVALID_AMOUNT', 'the resulting balance would be too large');

    from.balanceMinor = fromAfter;
    from.postingCount += 1n;
    if (transfer) {
      from.dayDebitedOn = today;
      from.dayDebitedMinor = dayDebited;
    }
    to.balanceMinor = toAfter;
    to.postingCount += 1n;
    return { ok: true, from, to, fromAfter, toAfter, fromSeq: from.postingCount, toSeq: to.postingCount };
  }
}

/** The stored form of an event: its facts, completed from the entry, or the caller's text. */
function outboxBody(r: PostRequest, e: LedgerEvent): NewOutboxRow['body'] {
  if (e.kind === 'TEXT') return { text: { title: e.title, content: e.content } };
  // The user's side: the debited account for money going out, the credited one otherwise.
  const out = e.kind === 'TRANSFER_OUT' || e.kind === 'WITHDRAWAL';
  return {
    facts: {
      kind: e.kind,
      accountNumber: out ? r.fromAccountNumber : r.toAccountNumber,
      currency: r.amount.currency,
      amountMinor: r.amount.minor,
      counterpartyName: e.counterpartyName,
      memo: out ? r.debitMemo : r.creditMemo,
    },
  };
}

function reused(): Outcome {
  return { ok: false, error: refuse('IDEMPOTENCY_KEY_REUSED', 'the idempotency key was used for another request') };
}

/** The first result again, from what was stored with the entry. */
function replayResult(entry: StoredEntry): PostResult {
  const debit = entry.postings.find((p) => p.amountMinor < 0n)!;
  const credit = entry.postings.find((p) => p.amountMinor > 0n)!;
  return {
    entryId: entry.id,
    postedAt: entry.createdAt,
    from: { accountNumber: debit.accountNumber, balanceAfter: { currency: debit.currency, minor: debit.balanceAfterMinor } },
    to: { accountNumber: credit.accountNumber, balanceAfter: { currency: credit.currency, minor: credit.balanceAfterMinor } },
  };
}
