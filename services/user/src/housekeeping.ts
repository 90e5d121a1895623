import type { UserDomainDeps } from './deps';
import {
  listUnhashedResidentIds,
  lockUnsealedResidentIds,
  purgeExpired,
  replaceWithSealedResidentId,
  setResidentIdHashIfFree,
} from './user.repository';

/** Expired rows are kept this long after they expire (for support and audit), then deleted. */
export const PURGE_GRACE_MS = 24 * 60 * 60_000;

/** Deletes processes and session families that ended more than a day ago. */
export async function purgeExpiredRows(
  deps: Pick<UserDomainDeps, 'db' | 'logger' | 'now'>,
): Promise<{ processes: number; sessions: number }> {
  const now = deps.now?.() ?? new Date();
  const purged = await purgeExpired(deps.db, new Date(now.getTime() - PURGE_GRACE_MS));
  if (purged.processes > 0 || purged.sessions > 0) deps.logger.info(purged, 'expired processes and sessions deleted');
  return purged;
}

/**
 * Seals resident ids still held in plain text (rows written before migration 003, or by an older
 * replica during a rolling update) and clears the plain column, a batch per transaction. Safe to
 * run again and on several replicas at once. Logs the count only, never a value.
 */
export async function sealUnsealedResidentIds(
  deps: Pick<UserDomainDeps, 'db' | 'logger' | 'residentIds'>,
  batchSize = 500,
): Promise<number> {
  let sealed = 0;
  for (;;) {
    const batch = await deps.db.transaction().execute(async (trx) => {
      const rows = await lockUnsealedResidentIds(trx, batchSize);
      for (const row of rows) await replaceWithSealedResidentId(trx, row.id, deps.residentIds.seal(row.id, row.residentId));
      return rows.length;
    });
    sealed += batch;
    if (batch < batchSize) break;
  }
  if (sealed > 0) deps.logger.info({ sealed }, 'plain resident ids sealed');
  return sealed;
}

/**
 * Fills the keyed hash (migration 005) of sealed resident ids that have none: rows from before
 * the hash, or sealed by the backfill above. Opens each sealed value once, here, in memory.
 * A number that an earlier row already holds is skipped and counted (`shared`, never a value):
 * two members with one resident id predate the rule and are an operator's to resolve; those rows
 * are looked at again on every run. Safe to run again and on several replicas at once.
 */
export async function hashUnhashedResidentIds(
  deps: Pick<UserDomainDeps, 'db' | 'logger' | 'residentIds' | 'residentIdHashes'>,
  batchSize = 500,
): Promise<{ hashed: number; shared: number }> {
  let hashed = 0;
  let shared = 0;
  let cursor = 0n;
  for (;;) {
    const rows = await listUnhashedResidentIds(deps.db, cursor, batchSize);
    for (const row of rows) {
      const hash = deps.residentIdHashes.hash(deps.residentIds.open(row.id, row.residentIdSealed));
      if (await setResidentIdHashIfFree(deps.db, row.id, hash)) hashed++;
      else shared++;
      cursor = row.id;
    }
    if (rows.length < batchSize) break;
  }
  if (hashed > 0) deps.logger.info({ hashed }, 'resident id hashes filled');
  if (shared > 0) deps.logger.error({ shared }, 'resident ids held by more than one user; left without hash for an operator');
  return { hashed, shared };
}
