/** SQL of top-ups and withdrawals (funding.money_movements). */
import { sql, type Selectable, type Updateable } from 'kysely';
import type { FundingDb } from './funding.repository';
import type { MoneyMovementKind, MoneyMovementState, MoneyMovementTable } from './funding.table';

/** What a movement is when it is first written, before any outcome. */
export interface NewMovement {
  id: string;
  userId: string;
  kind: MoneyMovementKind;
  externalTransactionId: string;
  requestHash: string;
  linkedAccountId: bigint;
  accountNumber: string;
  amountMinor: bigint;
  memberId: string;
  tranId: string;
  seoulDay: string;
}

export interface MoneyMovementRow extends NewMovement {
  state: MoneyMovementState;
  konaplateOutcome: 'SUCCESS' | 'FAILED' | null;
  approvalNo: string | null;
  debitEntryId: bigint | null;
  creditEntryId: bigint | null;
  failureCode: string | null;
  attempts: number;
  createdAt: Date;
  settledAt: Date | null;
}

const big = (value: string | null) => (value === null ? null : BigInt(value));

export function toRow(row: Selectable<MoneyMovementTable>): MoneyMovementRow {
  return {
    id: row.id,
    userId: row.user_id,
    kind: row.kind,
    externalTransactionId: row.external_transaction_id,
    requestHash: row.request_hash,
    linkedAccountId: BigInt(row.linked_account_id),
    accountNumber: row.account_number,
    amountMinor: BigInt(row.amount_minor),
    memberId: row.member_id,
    tranId: row.tran_id,
    seoulDay: row.seoul_day,
    state: row.state,
    konaplateOutcome: row.konaplate_outcome,
    approvalNo: row.approval_no,
    debitEntryId: big(row.debit_entry_id),
    creditEntryId: big(row.credit_entry_id),
    failureCode: row.failure_code,
    attempts: row.attempts,
    createdAt: row.created_at,
    settledAt: row.settled_at,
  };
}

export async function findMovementByExternalId(db: FundingDb, userId: string, externalId: string): Promise<MoneyMovementRow | undefined> {
  const row = await db
    .selectFrom('money_movements')
    .selectAll()
    .where('user_id', '=', userId)
    .where('external_transaction_id', '=', externalId)
    .executeTakeFirst();
  return row ? toRow(row) : undefined;
}

export async function findMovement(db: FundingDb, id: string): Promise<MoneyMovementRow | undefined> {
  const row = await db.selectFrom('money_movements').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRow(row) : undefined;
}

export type InsertOutcome = { inserted: true } | { inserted: false; reason: 'DAILY_LIMIT' | 'DUPLICATE' };

/**
 * Writes the pending record, leased to `leaseOwner`. A top-up is written only if the user's
 * top-ups of the day (not failed) stay within `dailyLimitMinor`: the user's Konaplate member row
 * is locked for the check, so two concurrent top-ups cannot both pass it.
 */
export async function insertPendingMovement(
  db: FundingDb,
  movement: NewMovement,
  lease: { owner: string; until: Date; now: Date },
  dailyLimitMinor: bigint | null,
): Promise<InsertOutcome> {
  return db.transaction().execute(async (tx) => {
    if (movement.kind === 'TOP_UP' && dailyLimitMinor !== null) {
      await tx.selectFrom('konaplate_members').select('user_id').where('user_id', '=', movement.userId).forUpdate().execute();
      const { total } = await tx
        .selectFrom('money_movements')
        .select(sql<string>`coalesce(sum(amount_minor), 0)::text`.as('total'))
        .where('user_id', '=', movement.userId)
        .where('kind', '=', 'TOP_UP')
        .where('seoul_day', '=', movement.seoulDay)
        .where('state', '<>', 'FAILED')
        .executeTakeFirstOrThrow();
      if (BigInt(total) + movement.amountMinor > dailyLimitMinor) return { inserted: false, reason: 'DAILY_LIMIT' } as const;
    }
    const result = await tx
      .insertInto('money_movements')
      .values({
        id: movement.id,
        user_id: movement.userId,
        kind: movement.kind,
        external_transaction_id: movement.externalTransactionId,
        request_hash: movement.requestHash,
        linked_account_id: movement.linkedAccountId,
        account_number: movement.accountNumber,
        amount_minor: movement.amountMinor,
        member_id: movement.memberId,
        tran_id: movement.tranId,
        seoul_day: movement.seoulDay,
        state: 'PENDING',
        konaplate_outcome: null,
        approval_no: null,
        debit_entry_id: null,
        credit_entry_id: null,
        failure_code: null,
        lease_owner: lease.owner,
        lease_until: lease.until,
        created_at: lease.now,
        updated_at: lease.now,
        settled_at: null,
      })
      .onConflict((oc) => oc.columns(['user_id', 'external_transaction_id']).doNothing())
      .executeTakeFirst();
    return result.numInsertedOrUpdatedRows === 0n ? ({ inserted: false, reason: 'DUPLICATE' } as const) : ({ inserted: true } as const);
  });
}

/** The user's top-ups of the Asia/Seoul day that did not fail (what the daily limit counts). */
export async function sumTopUpsOfDay(db: FundingDb, userId: string, seoulDay: string): Promise<bigint> {
  const { total } = await db
    .selectFrom('money_movements')
    .select(sql<string>`coalesce(sum(amount_minor), 0)::text`.as('total'))
    .where('user_id', '=', userId)
    .where('kind', '=', 'TOP_UP')
    .where('seoul_day', '=', seoulDay)
    .where('state', '<>', 'FAILED')
    .executeTakeFirstOrThrow();
  return BigInt(total);
}

/** Takes the lease of a pending movement when nobody holds it (or the holder's lease ran out). */
export async function leaseMovement(db: FundingDb, id: string, owner: string, now: Date, until: Date): Promise<boolean> {
  const result = await db
    .updateTable('money_movements')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where('state', '=', 'PENDING')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Leases the oldest pending movement not touched since `touchedBefore` (for the background
 * job), and touches it: a row the job could not move on waits `retryAfterMs` again instead of
 * being taken again at once. Skips rows another job instance is leasing at this moment.
 */
export async function leaseNextStaleMovement(
  db: FundingDb,
  owner: string,
  now: Date,
  until: Date,
  touchedBefore: Date,
): Promise<MoneyMovementRow | undefined> {
  const row = await db
    .updateTable('money_movements')
    .set({ lease_owner: owner, lease_until: until, updated_at: now })
    .where(
      'id',
      '=',
      db
        .selectFrom('money_movements')
        .select('id')
        .where('state', '=', 'PENDING')
        .where('updated_at', '<', touchedBefore)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .orderBy('updated_at')
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .executeTakeFirst();
  return row ? toRow(row) : undefined;
}

export type MovementChange = Partial<
  Pick<
    Updateable<MoneyMovementTable>,
    'state' | 'konaplate_outcome' | 'approval_no' | 'debit_entry_id' | 'credit_entry_id' | 'failure_code' | 'attempts' | 'settled_at'
  >
>;

/** Records a step, only while `owner` holds the lease (a holder whose lease ran out writes nothing). */
export async function recordStep(db: FundingDb, id: string, owner: string, change: MovementChange, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('money_movements')
    .set({ ...change, updated_at: now })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function releaseMovementLease(db: FundingDb, id: string, owner: string): Promise<void> {
  await db
    .updateTable('money_movements')
    .set({ lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}
