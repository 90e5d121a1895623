// The harness of bench/read-batches.ts and bench/write-batches.ts: a scratch database with a
// table of KEYS rows, then closed loops of C callers per mode, each calling with a random key and
// awaiting the answer before the next, BENCH_SECONDS per row, the modes alternating twice per
// client count. Prints operations per second, statements per operation, and CPU µs per operation
// of this process (the callers and the pool) and of PostgreSQL (/proc, every postgres process),
// with the load average.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { openDatabase } from '../../packages/db/src/index';
import { cpuMsByCommand, loadAverage } from './process-cpu';

export const KEYS = 20_000;

/** One way to make the operation: true when it answered as it must (the right row, a write applied). */
export type Mode = (db: Kysely<any>, key: number) => Promise<boolean>;

export interface ModesByKey {
  /** What one operation is, for the table: 'read', 'write'. */
  operation: string;
  /** The table's heading. */
  heading: string;
  /** Creates and fills the table (KEYS rows, keys 1..KEYS). */
  setUp: (db: Kysely<any>) => Promise<void>;
  /** The modes to compare, given the database and a counter each statement adds one to. */
  modes: (statements: { count: number }) => Record<string, Mode>;
}

export async function compareModesByKey(bench: ModesByKey): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error('set DATABASE_URL (a PostgreSQL server where a scratch database may be created)');
    process.exit(2);
  }
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
  if (!(seconds > 0 && seconds <= 60) || clientCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) {
    console.error('BENCH_SECONDS in (0, 60]; BENCH_CLIENTS integers in 1..64');
    process.exit(2);
  }
  const name = `kfrm_bench_${randomBytes(4).toString('hex')}`;
  const admin = (text: string) =>
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl, '-c', text], { stdio: 'ignore' });
  admin(`create database "${name}"`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ databaseUrl: url.toString(), poolMax: 20 });
  try {
    const db = handle.kysely() as Kysely<any>;
    await bench.setUp(db);
    const statements = { count: 0 };
    const modes = bench.modes(statements);
    const postgresCpu = () => cpuMsByCommand(['postgres']).postgres!;
    const rows: string[] = [];
    // Every mode's statements on every connection of the pool, before anything is measured.
    for (const run of Object.values(modes)) await Promise.all(Array.from({ length: 64 }, (_, i) => run(db, i + 1)));
    for (const clients of clientCounts) {
      for (const round of [1, 2]) {
        for (const [mode, run] of Object.entries(modes)) {
          const load = loadAverage();
          statements.count = 0;
          let done = 0;
          let wrong = 0;
          const cpu0 = process.cpuUsage();
          const pg0 = postgresCpu();
          const started = performance.now();
          const until = started + seconds * 1000;
          await Promise.all(
            Array.from({ length: clients }, async () => {
              while (performance.now() < until) {
                if (!(await run(db, 1 + Math.floor(Math.random() * KEYS)))) wrong++;
                done++;
              }
            }),
          );
          const elapsed = (performance.now() - started) / 1000;
          const cpu = process.cpuUsage(cpu0);
          const pgMs = postgresCpu() - pg0;
          if (wrong > 0) throw new Error(`${wrong} ${bench.operation}s of mode "${mode}" did not answer as they must`);
          rows.push(
            `| ${clients} | ${round} | ${mode} | ${(done / elapsed).toFixed(0)} | ${(statements.count / done).toFixed(3)} | ${((cpu.user + cpu.system) / done).toFixed(1)} | ${((pgMs * 1000) / done).toFixed(1)} | ${load} |`,
          );
        }
      }
    }
    const op = bench.operation;
    console.log(
      `${bench.heading}, ${KEYS} rows, ${seconds} s per row, pool of 20; CPU µs per ${op} (this process: callers and pool; PostgreSQL: /proc)`,
    );
    console.log(
      `| clients | round | mode | ${op}s/s | statements per ${op} | CPU µs per ${op}, this process | CPU µs per ${op}, PostgreSQL | load avg |`,
    );
    console.log('|---:|---:|---|---:|---:|---:|---:|---|');
    for (const row of rows) console.log(row);
  } finally {
    await handle.close();
    admin(`drop database "${name}"`);
  }
}
