// Test helpers: a migrated ledger on an isolated database, and a few accounts.
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createMemoryStore } from '@kfrm/store';
import { createLedger, type Ledger } from '../ledger';
import { LedgerPoster, type LedgerPosterOptions } from '../ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from '../ledger.table';
import { migrations } from '../migrations';
import type { Kysely } from 'kysely';

export interface TestLedger {
  database: TestDatabase;
  db: Kysely<LedgerDatabase>;
  poster: LedgerPoster;
  ledger: Ledger;
  close(): Promise<void>;
}

export async function openTestLedger(options: LedgerPosterOptions & { poolMax?: number } = {}): Promise<TestLedger> {
  const database = await openTestDatabase({ poolMax: options.poolMax ?? 12 });
  await migrateSchema(database, { schema: LEDGER_SCHEMA, migrations });
  const db = database.kysely<LedgerDatabase>(LEDGER_SCHEMA);
  const poster = new LedgerPoster(db, options);
  // The poster's clock and time zone, so debitedToday reads the day the poster counted.
  const ledger = createLedger({
    db,
    poster,
    store: createMemoryStore(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
  });
  return {
    database,
    db,
    poster,
    ledger,
    async close() {
      await poster.close();
      await database.close();
    },
  };
}

export const krw = (minor: bigint | number) => ({ currency: 'KRW' as const, minor: BigInt(minor) });

/** A transfer of one won between two accounts, without memos or events. */
export const oneWonTransfer = (from: { accountNumber: string }, to: { accountNumber: string }, idempotencyKey: string) => ({
  idempotencyKey,
  fromAccountNumber: from.accountNumber,
  toAccountNumber: to.accountNumber,
  amount: krw(1),
  debitMemo: '',
  creditMemo: '',
  events: [],
});
