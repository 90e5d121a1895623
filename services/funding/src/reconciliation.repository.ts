/** SQL of the reconciliation: a day's movements, and the periodic job's lease of a day (funding.reconciliation_runs). */
import type { FundingDb } from './funding.repository';
import { toRow, type MoneyMovementRow } from './money-movement.repository';

/** The movements requested on an Asia/Seoul day, in id order, `limit` after `afterId` (paging). */
export async function listMovementsOfDay(db: FundingDb, seoulDay: string, afterId: string, limit: number): Promise<MoneyMovementRow[]> {
  const rows = await db
    .selectFrom('money_movements')
    .selectAll()
    .where('seoul_day', '=', seoulDay)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toRow);
}

/** Which of these Konaplate tranIds belong to a top-up or withdrawal of ours (any day). */
export async function recordedTranIds(db: FundingDb, tranIds: readonly string[]): Promise<Set<string>> {
  if (tranIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('money_movements')
    .select('tran_id')
    .where('tran_id', 'in', [...tranIds])
    .execute();
  return new Set(rows.map((row) => row.tran_id));
}

/**
 * Leases the day's reconciliation for `owner` unless it already finished or another instance's
 * lease is still running; true when this caller now holds it.
 */
export async function leaseReconciliationRun(db: FundingDb, seoulDay: string, owner: string, now: Date, until: Date): Promise<boolean> {
  const row = await db
    .insertInto('reconciliation_runs')
    .values({ seoul_day: seoulDay, lease_owner: owner, lease_until: until, checked: null, mismatches: null, finished_at: null })
    .onConflict((oc) =>
      oc
        .column('seoul_day')
        .doUpdateSet({ lease_owner: owner, lease_until: until })
        .where('reconciliation_runs.finished_at', 'is', null)
        .where((eb) => eb.or([eb('reconciliation_runs.lease_until', 'is', null), eb('reconciliation_runs.lease_until', '<', now)])),
    )
    .returning('seoul_day')
    .executeTakeFirst();
  return row !== undefined;
}

/** Records the finished run, only while `owner` holds the lease. */
export async function finishReconciliationRun(
  db: FundingDb,
  seoulDay: string,
  owner: string,
  outcome: { checked: number; mismatches: number },
  now: Date,
): Promise<void> {
  await db
    .updateTable('reconciliation_runs')
    .set({ checked: outcome.checked, mismatches: outcome.mismatches, finished_at: now, lease_owner: null, lease_until: null })
    .where('seoul_day', '=', seoulDay)
    .where('lease_owner', '=', owner)
    .execute();
}

/** Gives up the lease of an unfinished run (a failed run is tried again by the next tick). */
export async function releaseReconciliationRun(db: FundingDb, seoulDay: string, owner: string): Promise<void> {
  await db
    .updateTable('reconciliation_runs')
    .set({ lease_owner: null, lease_until: null })
    .where('seoul_day', '=', seoulDay)
    .where('lease_owner', '=', owner)
    .execute();
}
