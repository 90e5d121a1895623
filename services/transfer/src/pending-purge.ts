import type { Logger } from '@kfrm/logging';
import { deletePendingBefore, type TransferDb } from './transfer.repository';

export interface PendingPurgeDeps {
  db: TransferDb;
  logger: Logger;
  clock: () => Date;
  /** PENDING transfers older than this are purged. */
  pendingRetentionMs: number;
}

/** Housekeeping: drops pre-checked transfers that were never executed and can no longer be. */
export async function purgeStalePending(deps: PendingPurgeDeps): Promise<number> {
  const { db, logger, clock, pendingRetentionMs } = deps;
  const purged = await deletePendingBefore(db, new Date(clock().getTime() - pendingRetentionMs));
  if (purged > 0) logger.info({ purged }, 'stale pending transfers purged');
  return purged;
}
