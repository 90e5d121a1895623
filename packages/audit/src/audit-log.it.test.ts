// The audit log is append-only and tamper-evident: a chain that forks under concurrent appends,
// a row the application can change, or an edit the verifier does not see would each defeat it.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { AUDIT_SCHEMA, AuditLog, auditMigrations, verifyAuditLog, type AuditEvent } from './index';

let db: TestDatabase;
let log: AuditLog;

const event = (n: number, overrides: Partial<AuditEvent> = {}): AuditEvent => ({
  actorKind: 'operator',
  actor: 'op-1',
  action: 'ledger.deposit',
  target: `account:3333-0000000000${n % 10}`,
  outcome: 'ok',
  detail: { amount: `KRW ${n}000`, currency: 'KRW' },
  ...overrides,
});

const pgCode = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (err: { code?: string }) => err.code ?? 'no code',
  );

beforeAll(async () => {
  db = await openTestDatabase();
  await migrateSchema(db, { schema: AUDIT_SCHEMA, migrations: auditMigrations });
  log = new AuditLog(db);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

describe('audit log', () => {
  it('chains each row to the one before and verifies', async () => {
    for (let i = 1; i <= 3; i++) await log.append(event(i));
    const rows = await log.list();
    expect(rows.map((r) => r.seq)).toEqual([1n, 2n, 3n]);
    expect(rows[0]!.prevHash).toBe('0'.repeat(64));
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    expect(rows[2]!.prevHash).toBe(rows[1]!.hash);
    expect(await log.verify()).toMatchObject({ ok: true, rows: 3n, head: { seq: 3n, hash: rows[2]!.hash } });
  });

  it('does not fork under concurrent appends (one seq after another, every link checked)', async () => {
    const before = (await log.list({ newestFirst: true, limit: 1 }))[0]!.seq;
    await Promise.all(Array.from({ length: 40 }, (_, i) => log.append(event(100 + i, { actorKind: 'service', actor: `svc-${i}` }))));
    const verified = await log.verify();
    expect(verified).toMatchObject({ ok: true, rows: before + 40n });
  });

  it('refuses UPDATE, DELETE and TRUNCATE, even to the table owner', async () => {
    const k = db.kysely();
    expect(await pgCode(sql`update audit.audit_log set outcome = 'refused' where seq = 1`.execute(k))).toBe('42501');
    expect(await pgCode(sql`delete from audit.audit_log where seq = 1`.execute(k))).toBe('42501');
    expect(await pgCode(sql`truncate audit.audit_log`.execute(k))).toBe('42501');
    expect((await log.verify()).ok).toBe(true);
  });

  it('grants the application role kfrm_app SELECT and INSERT only', async () => {
    if (db.source === 'pglite') return; // PGlite runs one superuser session: no roles to switch to
    const k = db.kysely();
    const asApp = async (statement: ReturnType<typeof sql>) =>
      pgCode(
        k.transaction().execute(async (trx) => {
          await sql`set local role kfrm_app`.execute(trx);
          await statement.execute(trx);
        }),
      );
    expect(await asApp(sql`select count(*) from audit.audit_log`)).toBe('no error');
    expect(await asApp(sql`select pg_advisory_xact_lock(1)`)).toBe('no error');
    expect(await asApp(sql`alter table audit.audit_log disable trigger audit_log_no_update_delete`)).toBe('42501');
    // Privileges are checked before triggers: the role is refused by the grants themselves.
    const privileges = await sql<{ privilege_type: string }>`
      select privilege_type from information_schema.role_table_grants
      where grantee = 'kfrm_app' and table_schema = 'audit' and table_name = 'audit_log' order by 1`.execute(k);
    expect(privileges.rows.map((r) => r.privilege_type)).toEqual(['INSERT', 'SELECT']);
  });

  it('keeps no personal data it was not given, and cuts oversized fields instead of refusing the event', async () => {
    await log.append(event(7, { target: `user:${'9'.repeat(500)}`, detail: { kyc: 'VERIFIED' } }));
    const [last] = await log.list({ newestFirst: true, limit: 1 });
    expect(last!.target.length).toBe(200);
    expect(last!.detail).toEqual({ kyc: 'VERIFIED' });
    expect((await log.verify()).ok).toBe(true);
  });

  it('shows an edited row to the verifier (superuser, triggers off), naming the first broken link', async () => {
    const k = db.kysely();
    await k.transaction().execute(async (trx) => {
      // What only a superuser can do: switch triggers off for the session and edit history.
      await sql`set local session_replication_role = replica`.execute(trx);
      await sql`update audit.audit_log set detail = '{"amount":"KRW 9999000","currency":"KRW"}'::jsonb where seq = 2`.execute(trx);
    });
    const result = await log.verify();
    expect(result).toMatchObject({ ok: false, broken: { seq: 2n, problem: 'row hash differs' } });
    const printed = await verifyAuditLog(db);
    expect(printed.ok).toBe(false);
    expect(printed.line).toMatch(/^audit log BROKEN at seq 2: row 2 was changed/);
  });

  it('shows a deleted row (a gap) and a relinked chain', async () => {
    const k = db.kysely();
    await k.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      // Repair row 2 is impossible without its original; delete a later row instead.
      await sql`delete from audit.audit_log where seq = 5`.execute(trx);
    });
    const rows = await log.list({ limit: 10 });
    const { checkLinks } = await import('./audit-chain');
    const fromThree = checkLinks(
      rows.filter((r) => r.seq >= 4n),
      { seq: 3n, hash: rows.find((r) => r.seq === 3n)!.hash },
    );
    expect(fromThree).toMatchObject({ broken: { seq: 6n, problem: 'gap', expectedSeq: 5n } });
  });
});
