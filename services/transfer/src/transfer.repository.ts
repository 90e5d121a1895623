import { sql, type Kysely, type Selectable } from 'kysely';
import type { TransferDatabase, TransferTable } from './transfer.table';

export type TransferDb = Kysely<TransferDatabase>;
export type TransferRow = Selectable<TransferTable>;

export interface NewTransfer {
  id: string;
  userId: string;
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  targetHolderName: string;
  targetOwnerUserId: string | null;
  amountMinor: bigint;
  debitMemo: string;
  creditMemo: string;
  processId: string;
  processContext: string;
  signedContent: string;
  createdAt: Date;
}

export async function insertPendingTransfer(db: TransferDb, t: NewTransfer): Promise<void> {
  await db
    .insertInto('transfers')
    .values({
      id: t.id,
      user_id: t.userId,
      source_account_number: t.sourceAccountNumber,
      target_institution_code: t.targetInstitutionCode,
      target_account_number: t.targetAccountNumber,
      target_holder_name: t.targetHolderName,
      target_owner_user_id: t.targetOwnerUserId,
      currency: 'KRW',
      amount_minor: t.amountMinor.toString(),
      debit_memo: t.debitMemo,
      credit_memo: t.creditMemo,
      process_id: t.processId,
      process_context: t.processContext,
      signed_content: t.signedContent,
      state: 'PENDING',
      signature_sha256: null,
      failure_code: null,
      entry_id: null,
      lease_owner: null,
      lease_until: null,
      created_at: t.createdAt,
      executing_at: null,
      finished_at: null,
    })
    .execute();
}

export async function findTransferByProcess(db: TransferDb, processId: string): Promise<TransferRow | undefined> {
  return db.selectFrom('transfers').selectAll().where('process_id', '=', processId).executeTakeFirst();
}

export async function findTransfer(db: TransferDb, id: string): Promise<TransferRow | undefined> {
  return db.selectFrom('transfers').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * PENDING → EXECUTING with the signature that authorised it, and the lease to drive it taken by
 * `owner` until `until`, in one statement (one transaction, one WAL flush instead of two): the
 * row as it now is, or undefined when another call decided it first. A crash right after leaves
 * an EXECUTING transfer whose lease runs out, as a crash while driving it does. The memos Execute
 * gave (absent: the pre-check's stay) are set in the same statement, so the posted lines are the
 * decided ones.
 */
export async function markExecutingLeased(
  db: TransferDb,
  id: string,
  signatureSha256: string,
  now: Date,
  owner: string,
  until: Date,
  memos: { debitMemo?: string; creditMemo?: string } = {},
): Promise<TransferRow | undefined> {
  return db
    .updateTable('transfers')
    .set({
      state: 'EXECUTING',
      signature_sha256: signatureSha256,
      executing_at: now,
      lease_owner: owner,
      lease_until: until,
      ...(memos.debitMemo === undefined ? {} : { debit_memo: memos.debitMemo }),
      ...(memos.creditMemo === undefined ? {} : { credit_memo: memos.creditMemo }),
    })
    .where('id', '=', id)
    .where('state', '=', 'PENDING')
    .returningAll()
    .executeTakeFirst();
}

/** Takes the right to drive an EXECUTING transfer until `until`, unless someone else holds it. */
export async function takeLease(db: TransferDb, id: string, owner: string, now: Date, until: Date): Promise<boolean> {
  const result = await db
    .updateTable('transfers')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where('state', '=', 'EXECUTING')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * EXECUTING → SUCCEEDED. Also from FAILED: the ledger is the truth, and a posting that committed
 * must never be shown as failed (only possible when a lease ran out mid-call).
 */
export async function markSucceeded(db: TransferDb, id: string, entryId: bigint, now: Date): Promise<void> {
  await db
    .updateTable('transfers')
    .set({ state: 'SUCCEEDED', entry_id: entryId.toString(), failure_code: null, finished_at: now, lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('state', 'in', ['EXECUTING', 'FAILED'])
    .execute();
}

/** EXECUTING → FAILED with the ledger's refusal, only by the lease holder. */
export async function markFailed(db: TransferDb, id: string, owner: string, code: string, now: Date): Promise<void> {
  await db
    .updateTable('transfers')
    .set({ state: 'FAILED', failure_code: code, finished_at: now, lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('state', '=', 'EXECUTING')
    .where('lease_owner', '=', owner)
    .execute();
}

/** Releases the lease after an outcome-unknown call, so the next Execute can drive at once. */
export async function releaseLease(db: TransferDb, id: string, owner: string): Promise<void> {
  await db
    .updateTable('transfers')
    .set({ lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

export interface RecentTarget {
  institutionCode: string;
  accountNumber: string;
  holderName: string;
}

/** The user's distinct targets of succeeded transfers, most recent first. */
export async function listRecentTargets(db: TransferDb, userId: string, limit: number): Promise<RecentTarget[]> {
  const rows = await db
    .selectFrom('transfers')
    .select(['target_institution_code', 'target_account_number'])
    .select(sql<string>`(array_agg(target_holder_name order by created_at desc))[1]`.as('holder_name'))
    .select(sql<Date>`max(created_at)`.as('last_at'))
    .where('user_id', '=', userId)
    .where('state', '=', 'SUCCEEDED')
    .groupBy(['target_institution_code', 'target_account_number'])
    .orderBy('last_at', 'desc')
    .orderBy('target_account_number')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    institutionCode: r.target_institution_code,
    accountNumber: r.target_account_number,
    holderName: r.holder_name,
  }));
}

/** Removes PENDING transfers created before `cutoff` (their process has long expired); how many. */
export async function deletePendingBefore(db: TransferDb, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom('transfers').where('state', '=', 'PENDING').where('created_at', '<', cutoff).executeTakeFirst();
  return Number(result.numDeletedRows);
}
