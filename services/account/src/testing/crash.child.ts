// Test fixture (run as a child process by crash.it.test.ts, never by the service): posts one
// transfer against the database at argv[2] and waits, so the test can kill it mid-transaction.
import { openDatabase } from '@kfrm/db';
import { createMemoryStore } from '@kfrm/store';
import { createLedger } from '../ledger';
import { LedgerPoster } from '../ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from '../ledger.table';

const [databaseUrl, key, from, to] = process.argv.slice(2);
if (!databaseUrl || !key || !from || !to) throw new Error('usage: crash-fixture <database-url> <key> <from> <to>');
const db = await openDatabase({ databaseUrl, poolMax: 1 });
const kysely = db.kysely<LedgerDatabase>(LEDGER_SCHEMA);
const ledger = createLedger({ db: kysely, poster: new LedgerPoster(kysely, { maxBatchSize: 1 }), store: createMemoryStore() });
process.stdout.write('posting\n');
await ledger.postTransfer({
  idempotencyKey: key,
  fromAccountNumber: from,
  toAccountNumber: to,
  amount: { currency: 'KRW', minor: 700n },
  debitMemo: 'hang',
  creditMemo: '',
  events: [],
});
process.stdout.write('posted\n');
await db.close();
