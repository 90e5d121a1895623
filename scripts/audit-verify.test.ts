// `pnpm audit:verify` against a real database: OK on an intact chain, exit 1 naming the first
// broken link once a superuser edited a row behind the trigger's back.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AUDIT_SCHEMA, AuditLog, auditMigrations } from '@kfrm/audit';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { runAuditVerify } from './audit-verify';

let db: TestDatabase;

beforeAll(async () => {
  db = await openTestDatabase();
  await migrateSchema(db, { schema: AUDIT_SCHEMA, migrations: auditMigrations });
  const log = new AuditLog(db);
  for (const target of ['user:1', 'user:2', 'user:3']) {
    await log.append({
      actorKind: 'operator',
      actor: 'op-1',
      action: 'user.kyc_decision',
      target,
      outcome: 'ok',
      detail: { kyc_status: 'VERIFIED' },
    });
  }
}, 60_000);

afterAll(async () => {
  await db?.close();
});

async function run(): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  const error = vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
  try {
    const code = await runAuditVerify({ DATABASE_URL: db.databaseUrl, LOG_LEVEL: 'silent' });
    return { code, out: lines.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe.skipIf(!process.env.DATABASE_URL)('pnpm audit:verify', () => {
  it('passes an intact chain and prints its head', async () => {
    const { code, out } = await run();
    expect(code).toBe(0);
    expect(out).toMatch(/^audit log OK: 3 rows, head seq 3 hash [0-9a-f]{64}/);
  });

  it('fails at the first edited row', async () => {
    await db
      .kysely()
      .transaction()
      .execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx);
        await sql`update audit.audit_log set target = 'user:99' where seq = 2`.execute(trx);
      });
    const { code, out } = await run();
    expect(code).toBe(1);
    expect(out).toMatch(/^audit log BROKEN at seq 2: row 2 was changed/);
  });
});
