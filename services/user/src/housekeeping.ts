import type { UserDomainDeps } from './deps';
import { purgeExpired } from './user.repository';

/** Expired rows are kept this long after they expire (for support and audit), then deleted. */
export const PURGE_GRACE_MS = 24 * 60 * 60_000;

/** Deletes processes and session families that ended more than a day ago. */
export async function purgeExpiredRows(deps: Pick<UserDomainDeps, 'db' | 'logger' | 'now'>): Promise<{ processes: number; sessions: number }> {
  const now = deps.now?.() ?? new Date();
  const purged = await purgeExpired(deps.db, new Date(now.getTime() - PURGE_GRACE_MS));
  if (purged.processes > 0 || purged.sessions > 0) deps.logger.info(purged, 'expired processes and sessions deleted');
  return purged;
}
