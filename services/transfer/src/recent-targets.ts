/** ListLatestTargets: where the user last sent money. */
import { findInstitution, type InstitutionEntry } from './institutions';
import { listRecentTargets, type RecentTarget, type TransferDb } from './transfer.repository';

const LATEST_TARGETS = 10;

/** The user's distinct targets of succeeded transfers, most recent first; an institution no longer listed is left out. */
export async function listLatestTargets(db: TransferDb, userId: string): Promise<(RecentTarget & { institution: InstitutionEntry })[]> {
  const targets = await listRecentTargets(db, userId, LATEST_TARGETS);
  return targets.flatMap((t) => {
    const institution = findInstitution(t.institutionCode);
    return institution ? [{ ...t, institution }] : [];
  });
}
