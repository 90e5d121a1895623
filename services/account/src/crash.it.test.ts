// Reliability 6: a process killed in the middle of posting leaves all or nothing, and a retry
// with the same key then posts exactly once. Needs a real Postgres server (a child process
// cannot share the in-process PGlite), so it is skipped without DATABASE_URL.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createMemoryStore } from '@kfrm/store';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger } from './ledger';
import { LedgerPoster } from './ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from './ledger.table';
import { migrations } from './migrations';

const skip = process.env.DATABASE_URL ? undefined : 'DATABASE_URL not set';

describe.skipIf(skip !== undefined)(skip ? `process killed while posting (skipped: ${skip})` : 'process killed while posting', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase({ backend: 'postgres' });
    await migrateSchema(database, { schema: LEDGER_SCHEMA, migrations });
  }, 60_000);
  afterAll(async () => database?.close());

  it('leaves nothing behind, and the retry posts once', async () => {
    const db = database.kysely<LedgerDatabase>(LEDGER_SCHEMA);
    const poster = new LedgerPoster(db, { maxBatchSize: 1 });
    const ledger = createLedger({ db, poster, store: createMemoryStore() });
    const from = await ledger.createAccount({ ownerUserId: 'k1', name: 'from', currency: 'KRW' });
    const to = await ledger.createAccount({ ownerUserId: 'k2', name: 'to', currency: 'KRW' });
    await ledger.deposit({
      idempotencyKey: 'fund',
      accountNumber: from.accountNumber,
      amount: { currency: 'KRW', minor: 1_000n },
      memo: '',
    });
    // Holds the child's posting inside its transaction (after the accounts are locked and the
    // entry is written, before the postings and COMMIT) long enough to kill the process there.
    await sql`create function ledger.test_hang() returns trigger language plpgsql as $$
      begin
        if new.memo = 'hang' then perform pg_sleep(2); end if;
        return new;
      end $$`.execute(db);
    await sql`create trigger test_hang before insert on ledger.postings for each row execute function ledger.test_hang()`.execute(db);

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./testing/crash.child.ts', import.meta.url)),
        database.databaseUrl!,
        'crash-1',
        from.accountNumber,
        to.accountNumber,
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Wait until the child's transaction is inside the posting.
    let pid: number | undefined;
    for (let i = 0; i < 600 && pid === undefined; i++) {
      const r = await sql<{
        pid: number;
      }>`select pid from pg_stat_activity where datname = current_database() and wait_event = 'PgSleep'`.execute(db);
      pid = r.rows[0]?.pid;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(pid).toBeDefined();
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(output).not.toContain('posted');
    // The server notices the dead client after the sleep and rolls the transaction back.
    for (let i = 0; i < 600; i++) {
      const r = await sql`select 1 from pg_stat_activity where pid = ${pid}`.execute(db);
      if (r.rows.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sql`drop trigger test_hang on ledger.postings`.execute(db);

    expect(await db.selectFrom('entries').select('id').where('idempotency_key', '=', 'crash-1').execute()).toEqual([]);
    const balances = await db
      .selectFrom('accounts')
      .select(['account_number', 'balance_minor'])
      .where('account_number', 'in', [from.accountNumber, to.accountNumber])
      .execute();
    expect(Object.fromEntries(balances.map((b) => [b.account_number, b.balance_minor]))).toEqual({
      [from.accountNumber]: '1000',
      [to.accountNumber]: '0',
    });

    // The caller retries with the same key: posted exactly once.
    const retry = () =>
      ledger.postTransfer({
        idempotencyKey: 'crash-1',
        fromAccountNumber: from.accountNumber,
        toAccountNumber: to.accountNumber,
        amount: { currency: 'KRW', minor: 700n },
        debitMemo: 'hang',
        creditMemo: '',
        events: [],
      });
    const first = await retry();
    expect(first.from.balanceAfter.minor).toBe(300n);
    expect(await retry()).toEqual(first);
    expect(await db.selectFrom('entries').select('id').where('idempotency_key', '=', 'crash-1').execute()).toHaveLength(1);
    await poster.close();
  }, 60_000);
});
