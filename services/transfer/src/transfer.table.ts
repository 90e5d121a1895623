import type { ColumnType } from 'kysely';

/** The Postgres schema the transfer service owns. */
export const TRANSFER_SCHEMA = 'transfer';

/**
 * PENDING (GetPreCheck stored it and started the authentication process) → EXECUTING (an
 * Execute verified the signed, DONE process and committed to posting) → SUCCEEDED | FAILED.
 * EXECUTING is never abandoned: any later Execute of the same transfer drives it to the end
 * (the ledger posting is idempotent under the transfer id).
 */
export const TRANSFER_STATES = ['PENDING', 'EXECUTING', 'SUCCEEDED', 'FAILED'] as const;
export type TransferState = (typeof TRANSFER_STATES)[number];

export interface TransferTable {
  /** UUID, made by the service; also the ledger idempotency key. */
  id: string;
  /** The user's id (uint64) as decimal text. */
  user_id: string;
  source_account_number: string;
  target_institution_code: string;
  target_account_number: string;
  /** The masked holder name shown at GetPreCheck time (ListLatestTargets shows it again). */
  target_holder_name: string;
  /** The holder's user id for a transfer inside our bank (gets the recipient's event); else null. */
  target_owner_user_id: string | null;
  currency: string;
  /** int8, read back as a decimal string. */
  amount_minor: ColumnType<string, string, never>;
  /** What the sender's statement shows (the sender's memo, else the recipient's masked name). */
  debit_memo: string;
  /** What the recipient's statement shows (the recipient memo, else the sender's name). */
  credit_memo: string;
  process_id: string;
  /** The TRANSFER process's transaction_context, byte for byte as given to CreateProcess. */
  process_context: string;
  /** The canonical bytes the app signs (docs/transfer-signing.md), as UTF-8 text. */
  signed_content: string;
  state: TransferState;
  /** SHA-256 (hex) of the signed_data that moved the transfer to EXECUTING. */
  signature_sha256: string | null;
  /** Seed error code of a FAILED transfer. */
  failure_code: string | null;
  /** int8: the ledger's journal entry of a SUCCEEDED transfer. */
  entry_id: ColumnType<string | null, string | null, string | null>;
  /** Who drives an EXECUTING transfer now, and until when (a crashed driver's lease runs out). */
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: ColumnType<Date, Date, never>;
  executing_at: Date | null;
  finished_at: Date | null;
}

export interface TransferDatabase {
  transfers: TransferTable;
}
