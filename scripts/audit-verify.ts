// `pnpm audit:verify`: walks the audit log's hash chain (docs/operators.md, "Audit log") and
// prints the first broken link (exit 1), or the row count and the head hash (exit 0).
//
//   DATABASE_URL=postgres://… npx pnpm@10 audit:verify      # compose, Kubernetes, split
//   npx pnpm@10 audit:verify                                # embedded default: stop `pnpm start` first
//
// The embedded default's PGlite in ${KFRM_DATA_DIR:-.data}/pglite has one user at a time: with
// the backend running, verify through the auditor's AuditService instead.
import { auditMigrations, AUDIT_SCHEMA, verifyAuditLog } from '@kfrm/audit';
import { migrateSchema, openDatabase } from '@kfrm/db';
import { readRuntimeConfig } from '@kfrm/runtime';

export async function runAuditVerify(env: Record<string, string | undefined> = process.env): Promise<number> {
  const config = readRuntimeConfig(env);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.pgliteDir, poolMax: 1 });
  try {
    // A fresh embedded data directory has no audit schema yet: an empty chain, not an error.
    if (config.mode === 'embedded') await migrateSchema(db, { schema: AUDIT_SCHEMA, migrations: auditMigrations });
    const { ok, line } = await verifyAuditLog(db);
    (ok ? console.log : console.error)(line);
    return ok ? 0 : 1;
  } catch (err) {
    console.error(`audit:verify failed: ${(err as Error).message}`);
    return 2;
  } finally {
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runAuditVerify();
}
