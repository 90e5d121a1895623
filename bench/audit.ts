// The audit log's append cost (docs/performance.md, "Audit log"): every audited call and every
// operator refusal is one append, serialized across the database by an advisory lock.
//   DATABASE_URL=… npx tsx bench/audit.ts [appends]
// Prints sequential appends per second (one caller), concurrent appends per second (32 callers
// sharing a pool of 10: the lock queues them), the verifier's rows per second, and the load average.
import { loadavg } from 'node:os';
import { AUDIT_SCHEMA, AuditLog, auditMigrations } from '@kfrm/audit';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase } from '@kfrm/db/test-database';

const N = Number(process.argv[2] ?? 2000);
const uptime = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
const event = (i: number) => ({
  actorKind: 'operator' as const,
  actor: 'bench-operator',
  action: 'ledger.deposit',
  target: `account:3333-${String(i).padStart(11, '0')}`,
  outcome: 'ok',
  detail: { amount: `KRW ${i}.0`, idempotency_key: `bench-${i}` },
});

console.log(`bench/audit.ts · ${N} appends per run · before: ${uptime()}`);
const db = await openTestDatabase({ poolMax: 10 });
try {
  console.log(`database: ${db.source}`);
  await migrateSchema(db, { schema: AUDIT_SCHEMA, migrations: auditMigrations });
  const log = new AuditLog(db);
  for (let i = 0; i < 100; i++) await log.append(event(i)); // warm-up

  let started = performance.now();
  for (let i = 0; i < N; i++) await log.append(event(i));
  const sequentialMs = performance.now() - started;

  started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < N) {
        next++;
        await log.append(event(next));
      }
    }),
  );
  const concurrentMs = performance.now() - started;

  started = performance.now();
  const verified = await log.verify();
  const verifyMs = performance.now() - started;
  if (!verified.ok) throw new Error('chain broken after the benchmark');

  const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);
  console.log(`sequential  ${perSecond(N, sequentialMs)} appends/s (${(sequentialMs / N).toFixed(3)} ms each)`);
  console.log(
    `concurrent  ${perSecond(N, concurrentMs)} appends/s with 32 callers (ratio to sequential ${(sequentialMs / concurrentMs).toFixed(2)})`,
  );
  console.log(`verify      ${perSecond(Number(verified.rows), verifyMs)} rows/s (${verified.rows} rows in ${Math.round(verifyMs)} ms)`);
  console.log(`after: ${uptime()}`);
} finally {
  await db.close();
}
