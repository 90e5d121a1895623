import type { ColumnType } from 'kysely';

/** The Postgres schema the casa service owns. */
export const CASA_SCHEMA = 'casa';

/** The product's terms, seeded by migration; ids are stable (the app sends them back). */
export interface TermTable {
  id: ColumnType<string, string | bigint, never>;
  name: string;
  url: string;
  description: string;
  mandatory: boolean;
  /** Retired terms are no longer listed, required or accepted. */
  active: boolean;
  sort_order: number;
}

/** The user's latest answer per term, with its time. */
export interface TermAgreementTable {
  /** The user's id (uint64) as decimal text. */
  user_id: string;
  term_id: ColumnType<string, string | bigint, never>;
  agreed: boolean;
  answered_at: Date;
}

export const OPENING_STATES = ['PENDING', 'OPENED'] as const;
export type OpeningState = (typeof OPENING_STATES)[number];

/**
 * One row per user who has started CompleteOpening. PENDING: the ledger call is running, or its
 * outcome was lost; OPENED: the ledger account exists and is the user's CASA account.
 */
export interface OpeningTable {
  user_id: string;
  state: OpeningState;
  /** Derived from the user ("casa-opening:<user id>"), the same on every retry. */
  idempotency_key: string;
  /** Peppered argon2id PHC string of the account password. */
  password_hash: string;
  account_number: string | null;
  /** KRW (no minor unit). */
  limit_per_transaction_krw: ColumnType<string, string | bigint, string | bigint>;
  limit_per_day_krw: ColumnType<string, string | bigint, string | bigint>;
  /** Who holds the PENDING row now, and until when; null once released. */
  claim_token: string | null;
  claimed_until: Date | null;
  /** Set when a ledger call's outcome was lost; the next CompleteOpening retries with the same key. */
  outcome_unknown_at: Date | null;
  started_at: Date;
  opened_at: Date | null;
}

export interface CasaDatabase {
  terms: TermTable;
  term_agreements: TermAgreementTable;
  openings: OpeningTable;
}
