import { openDatabase, type DatabaseHandle } from '../database';

/**
 * The dialects a `describe.each` runs a statement's test on: the embedded PGlite always, and
 * PostgreSQL when DATABASE_URL is set (as in CI).
 */
export function bothDialects(): [name: string, open: () => Promise<DatabaseHandle>][] {
  const targets: [string, () => Promise<DatabaseHandle>][] = [['pglite', () => openDatabase({})]];
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) targets.push(['postgres', () => openDatabase({ databaseUrl })]);
  return targets;
}
