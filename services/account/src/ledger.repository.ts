import { sql, type Kysely, type Transaction } from 'kysely';
import { answerEach, anyOfKeys, batchedRead, QueryTemplate } from '@kfrm/db';
import type { PostingKind } from './ledger-poster';
import type { Currency } from './money';
import { LEDGER_SCHEMA, type LedgerDatabase } from './ledger.table';

export type LedgerDb = Kysely<LedgerDatabase>;
export type LedgerTrx = Transaction<LedgerDatabase>;

export interface AccountRow {
  id: bigint;
  accountNumber: string;
  kind: 'CUSTOMER' | 'SYSTEM';
  ownerUserId: string | null;
  name: string;
  color: string;
  bookmarked: boolean;
  currency: Currency;
  allowOverdraft: boolean;
  limitPerTransactionMinor: bigint | null;
  limitPerDayMinor: bigint | null;
  balanceMinor: bigint;
  postingCount: bigint;
  dayDebitedOn: string | null;
  dayDebitedMinor: bigint;
  createdAt: Date;
  /** null while open. A closed account keeps its statement and neither sends nor receives. */
  closedAt: Date | null;
}

const ACCOUNT_COLUMNS = [
  'id',
  'account_number',
  'kind',
  'owner_user_id',
  'name',
  'color',
  'bookmarked',
  'currency',
  'allow_overdraft',
  'limit_per_transaction_minor',
  'limit_per_day_minor',
  'balance_minor',
  'posting_count',
  'day_debited_minor',
  'created_at',
  'closed_at',
] as const;

type RawAccount = {
  id: string;
  account_number: string;
  kind: 'CUSTOMER' | 'SYSTEM';
  owner_user_id: string | null;
  name: string;
  color: string;
  bookmarked: boolean;
  currency: string;
  allow_overdraft: boolean;
  limit_per_transaction_minor: string | null;
  limit_per_day_minor: string | null;
  balance_minor: string;
  posting_count: string;
  day_debited_on: string | null;
  day_debited_minor: string;
  created_at: Date;
  closed_at: Date | null;
};

function toAccount(r: RawAccount): AccountRow {
  return {
    id: BigInt(r.id),
    accountNumber: r.account_number,
    kind: r.kind,
    ownerUserId: r.owner_user_id,
    name: r.name,
    color: r.color,
    bookmarked: r.bookmarked,
    currency: r.currency as Currency,
    allowOverdraft: r.allow_overdraft,
    limitPerTransactionMinor: r.limit_per_transaction_minor === null ? null : BigInt(r.limit_per_transaction_minor),
    limitPerDayMinor: r.limit_per_day_minor === null ? null : BigInt(r.limit_per_day_minor),
    balanceMinor: BigInt(r.balance_minor),
    postingCount: BigInt(r.posting_count),
    dayDebitedOn: r.day_debited_on,
    dayDebitedMinor: BigInt(r.day_debited_minor),
    createdAt: r.created_at,
    closedAt: r.closed_at,
  };
}

/** `date` columns: the db package may hand them back as Date or as text; the ledger wants 'YYYY-MM-DD'. */
function dateText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  return String(value);
}

/** day_debited_on as 'YYYY-MM-DD' text, whatever the db package makes of `date` columns. */
const dayDebitedOnText = () => sql<string | null>`to_char(day_debited_on, 'YYYY-MM-DD')`.as('day_debited_on');

function selectAccounts(db: LedgerDb | LedgerTrx) {
  return db
    .selectFrom('accounts')
    .select([...ACCOUNT_COLUMNS])
    .select(dayDebitedOnText());
}

function normalise(r: unknown): AccountRow {
  const raw = r as RawAccount;
  return toAccount({ ...raw, day_debited_on: dateText(raw.day_debited_on) });
}

export interface NewAccountRow {
  accountNumber: string;
  ownerUserId: string;
  name: string;
  color: string;
  currency: Currency;
  limitPerTransactionMinor: bigint | null;
  limitPerDayMinor: bigint | null;
  /** CreateAccount's idempotency key, when the caller gave one. */
  creationKey?: string;
}

/** Both transfer limits of one account; the account as it is now, undefined when it is gone. */
export async function updateTransferLimits(
  db: LedgerDb,
  accountId: bigint,
  perTransactionMinor: bigint,
  perDayMinor: bigint,
): Promise<AccountRow | undefined> {
  // RETURNING the row as written: one statement, and no second read that could see a later write.
  const row = await db
    .updateTable('accounts')
    .set({ limit_per_transaction_minor: perTransactionMinor, limit_per_day_minor: perDayMinor })
    .where('id', '=', accountId.toString())
    .returning([...ACCOUNT_COLUMNS])
    .returning(dayDebitedOnText())
    .executeTakeFirst();
  return row ? normalise(row) : undefined;
}

/** How an account is shown (UpdateAccount): the fields given are set, the others left alone. */
export async function updateAccountDisplay(
  db: LedgerDb,
  accountId: bigint,
  changes: { name?: string; color?: string; bookmarked?: boolean },
): Promise<AccountRow | undefined> {
  const row = await db
    .updateTable('accounts')
    .set({
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.color === undefined ? {} : { color: changes.color }),
      ...(changes.bookmarked === undefined ? {} : { bookmarked: changes.bookmarked }),
    })
    .where('id', '=', accountId.toString())
    .returning([...ACCOUNT_COLUMNS])
    .returning(dayDebitedOnText())
    .executeTakeFirst();
  return row ? normalise(row) : undefined;
}

/** The account created with this idempotency key, and its owner, if any. */
export async function findAccountByCreationKey(db: LedgerDb, creationKey: string): Promise<AccountRow | undefined> {
  const row = await selectAccounts(db).where('creation_key', '=', creationKey).executeTakeFirst();
  return row ? normalise(row) : undefined;
}

export async function insertCustomerAccount(db: LedgerDb, row: NewAccountRow): Promise<AccountRow> {
  const inserted = await db
    .insertInto('accounts')
    .values({
      account_number: row.accountNumber,
      kind: 'CUSTOMER',
      owner_user_id: row.ownerUserId,
      name: row.name,
      color: row.color,
      currency: row.currency,
      limit_per_transaction_minor: row.limitPerTransactionMinor,
      limit_per_day_minor: row.limitPerDayMinor,
      creation_key: row.creationKey ?? null,
    })
    .returning([...ACCOUNT_COLUMNS])
    .returning(dayDebitedOnText())
    .executeTakeFirstOrThrow();
  return normalise(inserted);
}

// Both parties of every transfer, and batches of single reads: one statement text for any number
// of accounts (`= any`), built and compiled once (QueryTemplate).
const accountsByNumbers = QueryTemplate.of<LedgerDatabase, { accountNumbers: string[] }>()((db, param) =>
  selectAccounts(db).where('account_number', '=', anyOfKeys(param('accountNumbers'), 'text')),
);

// Every balance read and every transfer target. Batched (`batchedRead`): the reads of concurrent
// calls that arrive while one is on its way share a statement.
const readAccountByNumber = batchedRead(async (db: LedgerDb | LedgerTrx, numbers: readonly string[]) => {
  const rows = (await accountsByNumbers.execute(db, { accountNumbers: [...new Set(numbers)] })).map(normalise);
  return answerEach(
    numbers,
    (n) => n,
    rows.map((a) => [a.accountNumber, a] as const),
  );
});

export function findAccountByNumber(db: LedgerDb | LedgerTrx, accountNumber: string): Promise<AccountRow | undefined> {
  return readAccountByNumber(db, accountNumber);
}

/** The accounts with these numbers (any kind), in one statement; numbers not found are left out. */
export async function findAccountsByNumbers(db: LedgerDb, accountNumbers: string[]): Promise<AccountRow[]> {
  if (accountNumbers.length === 0) return [];
  const rows = await accountsByNumbers.execute(db, { accountNumbers });
  return rows.map(normalise);
}

/** The owner's customer accounts, in opening order; closed ones only with `includeClosed`. */
export async function listAccountsOfOwner(
  db: LedgerDb,
  ownerUserId: string,
  options: { includeClosed?: boolean } = {},
): Promise<AccountRow[]> {
  let query = selectAccounts(db).where('owner_user_id', '=', ownerUserId).where('kind', '=', 'CUSTOMER');
  if (!options.includeClosed) query = query.where('closed_at', 'is', null);
  const rows = await query.orderBy('id').execute();
  return rows.map(normalise);
}

/**
 * Closes the account if it is open and its balance is zero, in one conditional UPDATE (a posting
 * holds the row lock while it changes the balance, so the two cannot interleave). The account as
 * closed; undefined when the conditions did not hold.
 */
export async function closeEmptyAccount(db: LedgerDb, accountId: bigint, now: Date): Promise<AccountRow | undefined> {
  const row = await db
    .updateTable('accounts')
    .set({ closed_at: now })
    .where('id', '=', accountId.toString())
    .where('balance_minor', '=', '0')
    .where('closed_at', 'is', null)
    .returning([...ACCOUNT_COLUMNS])
    .returning(dayDebitedOnText())
    .executeTakeFirst();
  return row ? normalise(row) : undefined;
}

/**
 * Locks the accounts with these numbers, in id order (every transaction takes account locks in
 * the same order, so two batches touching the same accounts queue instead of deadlocking), and
 * returns them as of the lock: the latest committed balances.
 *
 * It is a batch's first statement, and it also sets `plan_cache_mode = force_generic_plan` for
 * the rest of the transaction (`set_config(…, true)`: undone at COMMIT or ROLLBACK, so the pooled
 * connection keeps its default), for `writeBatch`'s sake. Left to itself, PostgreSQL plans that
 * statement afresh at every execution: its custom plans, which know each array's length, are
 * estimated cheaper than the generic plan, which assumes ten rows per array, so `auto` never
 * switches. Planning it took 0.45 ms of PostgreSQL's time per batch against 0.07 ms for binding
 * the generic plan (statement log, docs/performance.md), and executing either takes about the
 * same. The generic plan's shape is fine for any batch (32 postings at most): index lookups on
 * `accounts` by id, hash joins of a few rows. The other statements that can follow in the batch
 * (`findEntriesByKeys`, the deferred balance checks at COMMIT) are key lookups, for which a
 * generic plan is what `auto` settles on anyway. Setting it here costs no round trip of its own.
 */
export async function lockAccounts(trx: LedgerTrx, accountNumbers: string[]): Promise<AccountRow[]> {
  if (accountNumbers.length === 0) return [];
  const rows = await accountsForUpdate.execute(trx, { accountNumbers });
  return rows.map(normalise);
}

// Every batch of postings: built and compiled once (QueryTemplate; Kysely's build/compile was
// ≈ 5–6 % of the backend's CPU under transfers). `= any(array)` rather than `in (list)`: one
// parameter, so the statement is the same for any number of accounts. The `set_config` column is
// evaluated for each locked row, before the batch's write is bound (see lockAccounts).
const accountsForUpdate = QueryTemplate.of<LedgerDatabase, { accountNumbers: string[] }>()((db, param) =>
  selectAccounts(db)
    .select(sql<string>`set_config('plan_cache_mode', 'force_generic_plan', true)`.as('batch_plan_cache_mode'))
    .where('account_number', '=', sql<string>`any(${param('accountNumbers')}::text[])`)
    .orderBy('id')
    .forUpdate(),
);

export interface StoredPosting {
  accountNumber: string;
  ownerUserId: string | null;
  currency: Currency;
  amountMinor: bigint;
  balanceAfterMinor: bigint;
}

export interface StoredEntry {
  id: bigint;
  idempotencyKey: string;
  kind: PostingKind;
  requestHash: string;
  requestHashVersion: number;
  createdAt: Date;
  postings: StoredPosting[];
}

/** Committed entries (with their postings) under these idempotency keys. */
export async function findEntriesByKeys(trx: LedgerDb | LedgerTrx, keys: string[]): Promise<Map<string, StoredEntry>> {
  const found = new Map<string, StoredEntry>();
  if (keys.length === 0) return found;
  const rows = await trx
    .selectFrom('entries as e')
    .innerJoin('postings as p', 'p.entry_id', 'e.id')
    .innerJoin('accounts as a', 'a.id', 'p.account_id')
    .select([
      'e.id',
      'e.idempotency_key',
      'e.kind',
      'e.request_hash',
      'e.request_hash_version',
      'e.created_at',
      'a.account_number',
      'a.owner_user_id',
      'p.currency',
      'p.amount_minor',
      'p.balance_after_minor',
    ])
    .where('e.idempotency_key', 'in', keys)
    .orderBy('e.id')
    .orderBy('p.amount_minor')
    .execute();
  for (const r of rows) {
    let entry = found.get(r.idempotency_key);
    if (!entry) {
      entry = {
        id: BigInt(r.id),
        idempotencyKey: r.idempotency_key,
        kind: r.kind,
        requestHash: r.request_hash,
        requestHashVersion: Number(r.request_hash_version),
        createdAt: r.created_at,
        postings: [],
      };
      found.set(r.idempotency_key, entry);
    }
    entry.postings.push({
      accountNumber: r.account_number,
      ownerUserId: r.owner_user_id,
      currency: r.currency as Currency,
      amountMinor: BigInt(r.amount_minor),
      balanceAfterMinor: BigInt(r.balance_after_minor),
    });
  }
  return found;
}

export interface NewEntryRow {
  idempotencyKey: string;
  requestHash: string;
  requestHashVersion: number;
  kind: PostingKind;
  memo: string;
}

/** A posting of a new entry, named by the entry's idempotency key (its id is not known yet). */
export interface NewPostingRow {
  idempotencyKey: string;
  accountId: bigint;
  currency: Currency;
  amountMinor: bigint;
  balanceAfterMinor: bigint;
  accountSeq: bigint;
  memo: string;
}

export interface AccountBalanceUpdate {
  id: bigint;
  balanceMinor: bigint;
  postingCount: bigint;
  dayDebitedOn: string | null;
  dayDebitedMinor: bigint;
}

/** TOP_UP, WITHDRAWAL, WITHDRAWAL_RETURNED: the funding service's top-ups and withdrawals (migration 006). */
export type OutboxEventKind = 'TRANSFER_OUT' | 'TRANSFER_IN' | 'TOP_UP' | 'WITHDRAWAL' | 'WITHDRAWAL_RETURNED';

/** What an outbox event says happened; the notification service puts it in words. */
export interface OutboxFacts {
  kind: OutboxEventKind;
  /** The user's account in the entry: debited (TRANSFER_OUT) or credited (TRANSFER_IN). */
  accountNumber: string;
  currency: Currency;
  amountMinor: bigint;
  /** As the poster gave it (already masked); may be empty. */
  counterpartyName: string;
  /** The memo of the user's side of the entry. */
  memo: string;
}

/** Rendered text: rows written before facts, and events from callers that still send text. */
export interface OutboxText {
  title: string;
  content: string;
}

export interface NewOutboxRow {
  idempotencyKey: string;
  userId: string;
  type: 'TRANSFER_SUCCEED';
  body: { facts: OutboxFacts } | { text: OutboxText };
}

export interface BatchWrite {
  entries: NewEntryRow[];
  postings: NewPostingRow[];
  balances: AccountBalanceUpdate[];
  events: NewOutboxRow[];
}

const ids = (values: bigint[]) => values.map((v) => v.toString());

/**
 * Writes a batch in one statement (one round trip): claims the idempotency keys and inserts the
 * entries (INSERT ... ON CONFLICT DO NOTHING), their postings, the accounts' new balances, and the
 * outbox events with ids from the outbox_position row. Returns the entries actually inserted: a
 * key that was taken meanwhile is missing, and the caller must then roll back (its postings were
 * dropped but the balances were not).
 *
 * The outbox_position row is locked here, in the batch's last statement, and stays locked until
 * COMMIT, so outbox writers commit in id order (see the migration).
 */
export async function writeBatch(trx: LedgerTrx, batch: BatchWrite): Promise<Map<string, { id: bigint; createdAt: Date }>> {
  const claimed = new Map<string, { id: bigint; createdAt: Date }>();
  if (batch.entries.length === 0) return claimed;
  const { entries, postings, balances, events } = batch;
  const facts = events.map((r) => ('facts' in r.body ? r.body.facts : undefined));
  const texts = events.map((r) => ('text' in r.body ? r.body.text : undefined));
  const rows = await writeBatchTemplate.execute(trx, {
    entryKeys: entries.map((r) => r.idempotencyKey),
    entryHashes: entries.map((r) => r.requestHash),
    entryHashVersions: entries.map((r) => r.requestHashVersion),
    entryKinds: entries.map((r) => r.kind),
    entryMemos: entries.map((r) => r.memo),
    postingKeys: postings.map((r) => r.idempotencyKey),
    postingAccountIds: ids(postings.map((r) => r.accountId)),
    postingCurrencies: postings.map((r) => r.currency),
    postingAmounts: ids(postings.map((r) => r.amountMinor)),
    postingBalancesAfter: ids(postings.map((r) => r.balanceAfterMinor)),
    postingSeqs: ids(postings.map((r) => r.accountSeq)),
    postingMemos: postings.map((r) => r.memo),
    balanceIds: ids(balances.map((r) => r.id)),
    balanceMinors: ids(balances.map((r) => r.balanceMinor)),
    balancePostingCounts: ids(balances.map((r) => r.postingCount)),
    balanceDays: balances.map((r) => r.dayDebitedOn),
    balanceDayDebited: ids(balances.map((r) => r.dayDebitedMinor)),
    eventCount: events.length,
    eventKeys: events.map((r) => r.idempotencyKey),
    eventUserIds: events.map((r) => r.userId),
    eventTypes: events.map((r) => r.type),
    eventKinds: facts.map((f) => f?.kind ?? null),
    eventAccountNumbers: facts.map((f) => f?.accountNumber ?? null),
    eventCurrencies: facts.map((f) => f?.currency ?? null),
    eventAmounts: facts.map((f) => f?.amountMinor.toString() ?? null),
    eventCounterparties: facts.map((f) => f?.counterpartyName ?? null),
    eventMemos: facts.map((f) => f?.memo ?? null),
    eventTitles: texts.map((x) => x?.title ?? null),
    eventContents: texts.map((x) => x?.content ?? null),
  });
  for (const r of rows) claimed.set(r.idempotency_key, { id: BigInt(r.id), createdAt: r.created_at });
  return claimed;
}

type WriteBatchParams = {
  entryKeys: string[];
  entryHashes: string[];
  entryHashVersions: number[];
  entryKinds: string[];
  entryMemos: string[];
  postingKeys: string[];
  postingAccountIds: string[];
  postingCurrencies: string[];
  postingAmounts: string[];
  postingBalancesAfter: string[];
  postingSeqs: string[];
  postingMemos: string[];
  balanceIds: string[];
  balanceMinors: string[];
  balancePostingCounts: string[];
  balanceDays: (string | null)[];
  balanceDayDebited: string[];
  eventCount: number;
  eventKeys: string[];
  eventUserIds: string[];
  eventTypes: string[];
  eventKinds: (string | null)[];
  eventAccountNumbers: (string | null)[];
  eventCurrencies: (string | null)[];
  eventAmounts: (string | null)[];
  eventCounterparties: (string | null)[];
  eventMemos: (string | null)[];
  eventTitles: (string | null)[];
  eventContents: (string | null)[];
};

// Raw SQL is not schema-rewritten: tables are qualified with the (constant) schema name. All
// values travel as bound arrays, so the statement is the same for every batch: a QueryTemplate,
// compiled once (it was compiled per batch, and per retry).
const t = (name: string) => sql.table(`${LEDGER_SCHEMA}.${name}`);
const writeBatchTemplate = new QueryTemplate<WriteBatchParams, { id: string; idempotency_key: string; created_at: Date }>(
  (_db, p) => sql<{ id: string; idempotency_key: string; created_at: Date }>`
    with e as (
      insert into ${t('entries')} (idempotency_key, request_hash, request_hash_version, kind, memo)
      select * from unnest(${p('entryKeys')}::text[], ${p('entryHashes')}::text[],
                           ${p('entryHashVersions')}::smallint[],
                           ${p('entryKinds')}::text[], ${p('entryMemos')}::text[])
      on conflict (idempotency_key) do nothing
      returning id, idempotency_key, created_at
    ),
    p as (
      insert into ${t('postings')} (entry_id, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
      select e.id, v.account_id, v.currency, v.amount_minor, v.balance_after_minor, v.account_seq, v.memo
      from unnest(${p('postingKeys')}::text[], ${p('postingAccountIds')}::bigint[],
                  ${p('postingCurrencies')}::text[], ${p('postingAmounts')}::bigint[],
                  ${p('postingBalancesAfter')}::bigint[], ${p('postingSeqs')}::bigint[],
                  ${p('postingMemos')}::text[])
        as v(idempotency_key, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
      join e on e.idempotency_key = v.idempotency_key
    ),
    u as (
      update ${t('accounts')} as a
      set balance_minor = v.balance_minor, posting_count = v.posting_count,
          day_debited_on = v.day_debited_on, day_debited_minor = v.day_debited_minor
      from unnest(${p('balanceIds')}::bigint[], ${p('balanceMinors')}::bigint[],
                  ${p('balancePostingCounts')}::bigint[], ${p('balanceDays')}::date[],
                  ${p('balanceDayDebited')}::bigint[])
        as v(id, balance_minor, posting_count, day_debited_on, day_debited_minor)
      where a.id = v.id
    ),
    pos as (
      update ${t('outbox_position')} set last_id = last_id + ${p('eventCount')}::bigint
      where singleton and ${p('eventCount')}::bigint > 0
      returning last_id
    ),
    o as (
      insert into ${t('outbox')} (id, entry_id, user_id, type, kind, account_number, currency, amount_minor, counterparty_name, memo, title, content)
      select pos.last_id - ${p('eventCount')}::bigint + v.ord, e.id, v.user_id, v.type,
             v.kind, v.account_number, v.currency, v.amount_minor, v.counterparty_name, v.memo, v.title, v.content
      from unnest(${p('eventKeys')}::text[], ${p('eventUserIds')}::text[], ${p('eventTypes')}::text[],
                  ${p('eventKinds')}::text[], ${p('eventAccountNumbers')}::text[],
                  ${p('eventCurrencies')}::text[], ${p('eventAmounts')}::bigint[],
                  ${p('eventCounterparties')}::text[], ${p('eventMemos')}::text[],
                  ${p('eventTitles')}::text[], ${p('eventContents')}::text[]) with ordinality
        as v(idempotency_key, user_id, type, kind, account_number, currency, amount_minor, counterparty_name, memo, title, content, ord)
      join e on e.idempotency_key = v.idempotency_key
      cross join pos
    )
    select id, idempotency_key, created_at from e`,
);

export interface OutboxRow extends Omit<NewOutboxRow, 'idempotencyKey'> {
  id: bigint;
  entryId: bigint;
  createdAt: Date;
}

// Every relay poll (the notification service's, through ListOutboxEvents).
const outboxAfter = QueryTemplate.of<LedgerDatabase, { afterId: string; limit: number }>()((db, param) =>
  db.selectFrom('outbox').selectAll().where('id', '>', param('afterId')).orderBy('id').limit(param('limit')),
);

export async function listOutboxAfter(db: LedgerDb, afterId: bigint, limit: number): Promise<OutboxRow[]> {
  const rows = await outboxAfter.execute(db, { afterId: afterId.toString(), limit });
  return rows.map((r) => ({
    id: BigInt(r.id),
    entryId: BigInt(r.entry_id),
    userId: r.user_id,
    type: r.type,
    // The table's check constraint makes a row either all facts or all text.
    body:
      r.kind !== null
        ? {
            facts: {
              kind: r.kind,
              accountNumber: r.account_number!,
              currency: r.currency as Currency,
              amountMinor: BigInt(r.amount_minor!),
              counterpartyName: r.counterparty_name!,
              memo: r.memo!,
            },
          }
        : { text: { title: r.title!, content: r.content! } },
    createdAt: r.created_at,
  }));
}

export interface StatementLine {
  entryId: bigint;
  kind: PostingKind;
  accountSeq: bigint;
  amountMinor: bigint;
  balanceAfterMinor: bigint;
  memo: string;
  createdAt: Date;
}

/**
 * Up to `limit` of the account's postings, newest first, below `beforeSeq` (the cursor; none for
 * the first page), posted in [createdFrom, createdBefore) and on the side asked for (credits are
 * positive amounts, debits negative). Keyset on account_seq: postings added meanwhile have higher
 * numbers and never shift a later page.
 */
export async function listStatementLinesFiltered(
  db: LedgerDb,
  accountId: bigint,
  filter: { beforeSeq?: bigint; createdFrom?: Date; createdBefore?: Date; direction: 'ALL' | 'DEPOSITS' | 'WITHDRAWALS'; limit: number },
): Promise<StatementLine[]> {
  let query = db
    .selectFrom('postings as p')
    .innerJoin('entries as e', 'e.id', 'p.entry_id')
    .select(['p.entry_id', 'e.kind', 'p.account_seq', 'p.amount_minor', 'p.balance_after_minor', 'p.memo', 'e.created_at'])
    .where('p.account_id', '=', accountId.toString());
  if (filter.beforeSeq !== undefined) query = query.where('p.account_seq', '<', filter.beforeSeq.toString());
  if (filter.createdFrom) query = query.where('e.created_at', '>=', filter.createdFrom);
  if (filter.createdBefore) query = query.where('e.created_at', '<', filter.createdBefore);
  if (filter.direction === 'DEPOSITS') query = query.where('p.amount_minor', '>', '0');
  if (filter.direction === 'WITHDRAWALS') query = query.where('p.amount_minor', '<', '0');
  const rows = await query.orderBy('p.account_seq', 'desc').limit(filter.limit).execute();
  return rows.map((r) => ({
    entryId: BigInt(r.entry_id),
    kind: r.kind,
    accountSeq: BigInt(r.account_seq),
    amountMinor: BigInt(r.amount_minor),
    balanceAfterMinor: BigInt(r.balance_after_minor),
    memo: r.memo,
    createdAt: r.created_at,
  }));
}

/** The account's postings with account_seq in (fromSeqExclusive, toSeqInclusive], newest first. */
export async function listStatementLines(
  db: LedgerDb,
  accountId: bigint,
  fromSeqExclusive: bigint,
  toSeqInclusive: bigint,
): Promise<StatementLine[]> {
  const rows = await db
    .selectFrom('postings as p')
    .innerJoin('entries as e', 'e.id', 'p.entry_id')
    .select(['p.entry_id', 'e.kind', 'p.account_seq', 'p.amount_minor', 'p.balance_after_minor', 'p.memo', 'e.created_at'])
    .where('p.account_id', '=', accountId.toString())
    .where('p.account_seq', '>', fromSeqExclusive.toString())
    .where('p.account_seq', '<=', toSeqInclusive.toString())
    .orderBy('p.account_seq', 'desc')
    .execute();
  return rows.map((r) => ({
    entryId: BigInt(r.entry_id),
    kind: r.kind,
    accountSeq: BigInt(r.account_seq),
    amountMinor: BigInt(r.amount_minor),
    balanceAfterMinor: BigInt(r.balance_after_minor),
    memo: r.memo,
    createdAt: r.created_at,
  }));
}
