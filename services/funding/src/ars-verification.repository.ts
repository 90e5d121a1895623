/** SQL of ARS verifications (migration 005): every step is one statement guarded by the state it leaves. */
import type { Selectable } from 'kysely';
import type { FundingDb, LinkedAccountRow } from './funding.repository';
import { toAccount } from './funding.repository';
import type { ArsVerificationState, ArsVerificationTable } from './funding.table';

export interface ArsVerificationRow {
  id: string;
  userId: string;
  linkedAccountId: bigint;
  memberId: string;
  regTranId: string;
  state: ArsVerificationState;
  authCode: string | null;
  codeExpiresAt: Date | null;
  failure: string | null;
  registeredAt: Date | null;
  updatedAt: Date;
}

function toRow(row: Selectable<ArsVerificationTable>): ArsVerificationRow {
  return {
    id: row.id,
    userId: row.user_id,
    linkedAccountId: BigInt(row.linked_account_id),
    memberId: row.member_id,
    regTranId: row.reg_tran_id,
    state: row.state,
    authCode: row.auth_code,
    codeExpiresAt: row.code_expires_at,
    failure: row.failure,
    registeredAt: row.registered_at,
    updatedAt: row.updated_at,
  };
}

export async function insertArsVerification(
  db: FundingDb,
  row: { id: string; userId: string; linkedAccountId: bigint; memberId: string; regTranId: string; at: Date },
): Promise<ArsVerificationRow> {
  const saved = await db
    .insertInto('ars_verifications')
    .values({
      id: row.id,
      user_id: row.userId,
      linked_account_id: row.linkedAccountId,
      member_id: row.memberId,
      reg_tran_id: row.regTranId,
      state: 'ISSUING',
      updated_at: row.at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRow(saved);
}

export async function findArsVerification(db: FundingDb, userId: string, id: string): Promise<ArsVerificationRow | undefined> {
  const row = await db.selectFrom('ars_verifications').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return row && toRow(row);
}

/** How long an attempt whose code request went unanswered may be resumed by a new Start. */
export const ISSUING_RESUMABLE_MS = 60_000;

/**
 * The account's attempt a new Start should resume instead of opening another: one still waiting
 * for its code (recently), or whose code is issued and still valid.
 */
export async function findResumableArsVerification(
  db: FundingDb,
  linkedAccountId: bigint,
  at: Date,
): Promise<ArsVerificationRow | undefined> {
  const row = await db
    .selectFrom('ars_verifications')
    .selectAll()
    .where('linked_account_id', '=', linkedAccountId.toString())
    .where((eb) =>
      eb.or([
        eb.and([eb('state', '=', 'ISSUING'), eb('updated_at', '>', new Date(at.getTime() - ISSUING_RESUMABLE_MS))]),
        eb.and([eb('state', 'in', ['CODE_ISSUED', 'CALLING']), eb('code_expires_at', '>', at)]),
      ]),
    )
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && toRow(row);
}

export interface ArsVerificationUpdate {
  state: Exclude<ArsVerificationState, 'REGISTERED'>;
  authCode?: string;
  codeExpiresAt?: Date;
  failure?: string;
}

/**
 * Moves a verification from one of `from` (never REGISTERED: that is `completeArsVerification`);
 * undefined when another caller moved it first.
 */
export async function transitionArsVerification(
  db: FundingDb,
  id: string,
  from: readonly ArsVerificationState[],
  update: ArsVerificationUpdate,
  at: Date,
): Promise<ArsVerificationRow | undefined> {
  const row = await db
    .updateTable('ars_verifications')
    .set({
      state: update.state,
      updated_at: at,
      ...(update.authCode === undefined ? {} : { auth_code: update.authCode }),
      ...(update.codeExpiresAt === undefined ? {} : { code_expires_at: update.codeExpiresAt }),
      ...(update.failure === undefined ? {} : { failure: update.failure }),
    })
    .where('id', '=', id)
    .where('state', 'in', [...from])
    .returningAll()
    .executeTakeFirst();
  return row && toRow(row);
}

/**
 * Records REGISTERED and marks the account ARS-verified in one transaction, so neither is seen
 * without the other; undefined when the verification had left `from` (a concurrent poll did it).
 */
export async function completeArsVerification(
  db: FundingDb,
  id: string,
  from: readonly ArsVerificationState[],
  at: Date,
): Promise<{ verification: ArsVerificationRow; account: LinkedAccountRow } | undefined> {
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('ars_verifications')
      .set({ state: 'REGISTERED', registered_at: at, failure: null, updated_at: at })
      .where('id', '=', id)
      .where('state', 'in', [...from])
      .returningAll()
      .executeTakeFirst();
    if (!updated) return undefined;
    const account = await trx
      .updateTable('linked_accounts')
      .set({ ars_verified_at: at, updated_at: at })
      .where('id', '=', updated.linked_account_id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { verification: toRow(updated), account: toAccount(account) };
  });
}
