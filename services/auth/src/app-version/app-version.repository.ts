import { sql, type Kysely } from 'kysely';
import type { ReleasedVersion } from './app-version';
import type { AppVersionTable } from './app-version.table';

export async function listReleasedVersions(db: Kysely<{ app_versions: AppVersionTable }>): Promise<ReleasedVersion[]> {
  const rows = await db
    .selectFrom('app_versions')
    .select(['major', 'minor', 'patch', 'force_update'])
    .where('released_at', 'is not', null)
    .where('released_at', '<=', sql<Date>`now()`)
    .execute();
  return rows.map((r) => ({ major: r.major, minor: r.minor, patch: r.patch, forceUpdate: r.force_update }));
}
