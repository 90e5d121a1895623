// PostgreSQL transactions of one database, from pg_stat_database (xact_commit + xact_rollback;
// every statement outside an explicit transaction counts as one): how many round trips to the
// database an operation costs, as the benchmarks print it per operation.
import { execFileSync } from 'node:child_process';

/**
 * A backend publishes its counters at most once a second while busy, and an idle one only after
 * PostgreSQL's idle-flush interval (10 s): a reading taken sooner misses the last transactions.
 */
export const PG_STATS_SETTLE_MS = 11_000;

export interface TransactionCounter {
  /** Committed plus rolled-back transactions of the database so far. */
  read(): Promise<number>;
  /**
   * The transactions `run` caused, net of what the database does with nobody calling
   * (`idlePerSecond`, measured by `measureIdle`): waits for the counters to settle first.
   */
  around<T>(run: () => Promise<T>): Promise<{ result: T; transactions: number; seconds: number }>;
  /** Transactions per second with nobody calling (the backend's own pollers), over `ms`. */
  measureIdle(ms: number): Promise<number>;
}

export function transactionCounter(serverUrl: string, databaseName: string): TransactionCounter {
  // psql from the admin database: its own transactions are not counted in the one measured.
  if (!/^[a-z0-9_]+$/.test(databaseName)) throw new Error('unexpected database name');
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let idlePerSecond = 0;
  const read = async () => {
    const out = execFileSync(
      'psql',
      [
        '-X',
        '-A',
        '-t',
        '-d',
        serverUrl,
        '-c',
        `select xact_commit + xact_rollback from pg_stat_database where datname = '${databaseName}'`,
      ],
      { encoding: 'utf8' },
    );
    return Number(out.trim() || Number.NaN);
  };
  return {
    read,
    async around(run) {
      await sleep(PG_STATS_SETTLE_MS);
      const before = await read();
      const started = performance.now();
      const result = await run();
      await sleep(PG_STATS_SETTLE_MS);
      const seconds = (performance.now() - started) / 1000;
      return { result, transactions: (await read()) - before - idlePerSecond * seconds, seconds };
    },
    async measureIdle(ms) {
      await sleep(PG_STATS_SETTLE_MS);
      const before = await read();
      await sleep(ms);
      idlePerSecond = ((await read()) - before) / (ms / 1000);
      return idlePerSecond;
    },
  };
}
