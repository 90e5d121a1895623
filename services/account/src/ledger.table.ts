import type { ColumnType, Generated } from 'kysely';

/** The Postgres schema the account service owns. */
export const LEDGER_SCHEMA = 'ledger';

/** int8 columns read back as decimal strings (the db package keeps int8 exact); written as bigint or string. */
type Int8 = ColumnType<string, bigint | string, bigint | string>;
type Int8Generated = ColumnType<string, never, never>;

export interface AccountsTable {
  id: Int8Generated;
  account_number: string;
  kind: 'CUSTOMER' | 'SYSTEM';
  owner_user_id: string | null;
  name: string;
  color: ColumnType<string, string | undefined, string>;
  bookmarked: ColumnType<boolean, boolean | undefined, boolean>;
  currency: string;
  allow_overdraft: ColumnType<boolean, boolean | undefined, never>;
  limit_per_transaction_minor: ColumnType<string | null, bigint | string | null, bigint | string | null>;
  limit_per_day_minor: ColumnType<string | null, bigint | string | null, bigint | string | null>;
  balance_minor: ColumnType<string, never, bigint | string>;
  posting_count: ColumnType<string, never, bigint | string>;
  day_debited_on: ColumnType<string | null, never, string | null>;
  day_debited_minor: ColumnType<string, never, bigint | string>;
  creation_key: ColumnType<string | null, string | null | undefined, never>;
  created_at: ColumnType<Date, never, never>;
  /** Set once by CloseAccount (migration 005); never cleared. */
  closed_at: ColumnType<Date | null, never, Date>;
}

export interface EntriesTable {
  id: Int8Generated;
  idempotency_key: string;
  request_hash: string;
  /** 1: the whole request was hashed (entries before migration 003); 2: its money fields only. */
  request_hash_version: ColumnType<number, number | undefined, never>;
  kind: 'TRANSFER' | 'DEPOSIT' | 'WITHDRAWAL';
  memo: string;
  created_at: Generated<Date>;
}

export interface PostingsTable {
  entry_id: Int8;
  account_id: Int8;
  currency: string;
  amount_minor: Int8;
  balance_after_minor: Int8;
  account_seq: Int8;
  memo: string;
}

export interface OutboxPositionTable {
  singleton: boolean;
  last_id: Int8;
}

export interface OutboxTable {
  id: Int8;
  entry_id: Int8;
  user_id: string;
  type: 'TRANSFER_SUCCEED';
  /** Facts (migration 004): all set, or all null on rows written as text. */
  kind: 'TRANSFER_OUT' | 'TRANSFER_IN' | 'TOP_UP' | 'WITHDRAWAL' | 'WITHDRAWAL_RETURNED' | null;
  account_number: string | null;
  currency: string | null;
  amount_minor: ColumnType<string | null, bigint | string | null, never>;
  counterparty_name: string | null;
  memo: string | null;
  /** Rendered text: rows written before facts (and by callers that still send text) only. */
  title: string | null;
  content: string | null;
  created_at: Generated<Date>;
}

export interface LedgerDatabase {
  accounts: AccountsTable;
  entries: EntriesTable;
  postings: PostingsTable;
  outbox_position: OutboxPositionTable;
  outbox: OutboxTable;
}
