// Rows written before the ledger stored facts (migrations 001-002 only, the old request hash
// over memos and notification text, outbox rows with rendered sentences) keep working after the
// later migrations: a retry of an old entry under its key gets the first result, another amount
// or account under that key is still IDEMPOTENCY_KEY_REUSED, and old outbox rows are still served.
import { createHash } from 'node:crypto';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createMemoryStore } from '@kfrm/store';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from './ledger';
import { LedgerPoster } from './ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from './ledger.table';
import { migrations } from './migrations';
import { krw } from './testing/ledger.harness';

const ALICE = '3333-1000000001';
const BOB = '3333-1000000002';
const CAROL = '3333-1000000003';
const KEY = 'legacy-transfer-1';

/** The request hash as the ledger computed it before migration 003 (frozen copy). */
function oldRequestHash(r: {
  kind: string;
  from: string;
  to: string;
  minor: bigint;
  debitMemo: string;
  creditMemo: string;
  owner: string;
  events: { userId: string; title: string; content: string }[];
}): string {
  const canonical = JSON.stringify([
    r.kind,
    r.from,
    r.to,
    'KRW',
    r.minor.toString(),
    r.debitMemo,
    r.creditMemo,
    r.owner,
    r.events.map((e) => [e.userId, 'TRANSFER_SUCCEED', e.title, e.content]),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
}

/** Writes one entry of two postings and its outbox rows as the old code did (old columns only). */
async function writeOldEntry(
  db: Kysely<any>,
  e: {
    key: string;
    hash: string;
    kind: string;
    from: string;
    to: string;
    minor: bigint;
    memo: string;
    events: { userId: string; title: string; content: string }[];
  },
): Promise<bigint> {
  return db.transaction().execute(async (trx) => {
    const entry = await sql<{ id: string }>`insert into ledger.entries (idempotency_key, request_hash, kind, memo)
      values (${e.key}, ${e.hash}, ${e.kind}, ${e.memo}) returning id`.execute(trx);
    const id = entry.rows[0]!.id;
    for (const [number, amount] of [
      [e.from, -e.minor],
      [e.to, e.minor],
    ] as const) {
      await sql`with a as (
          update ledger.accounts set balance_minor = balance_minor + ${amount.toString()}::bigint, posting_count = posting_count + 1
          where account_number = ${number} returning id, currency, balance_minor, posting_count)
        insert into ledger.postings (entry_id, account_id, currency, amount_minor, balance_after_minor, account_seq, memo)
        select ${id}::bigint, a.id, a.currency, ${amount.toString()}::bigint, a.balance_minor, a.posting_count, ${e.memo} from a`.execute(
        trx,
      );
    }
    for (const ev of e.events) {
      await sql`with pos as (update ledger.outbox_position set last_id = last_id + 1 where singleton returning last_id)
        insert into ledger.outbox (id, entry_id, user_id, type, title, content)
        select pos.last_id, ${id}::bigint, ${ev.userId}, 'TRANSFER_SUCCEED', ${ev.title}, ${ev.content} from pos`.execute(trx);
    }
    return BigInt(id);
  });
}

describe('ledger rows written in the old shape', () => {
  let database: TestDatabase;
  let db: Kysely<LedgerDatabase>;
  let poster: LedgerPoster;
  let ledger: Ledger;
  let oldEntryId: bigint;
  const oldEvents = [
    { userId: 'alice', title: '이체 완료', content: '김*수님에게 1,000원을 보냈습니다.' },
    { userId: 'bob', title: '입금', content: '1,000원이 입금되었습니다. (점심값)' },
  ];

  beforeAll(async () => {
    database = await openTestDatabase();
    // The schema as it was before facts: only the first two migrations.
    const { '001_ledger': m001, '002_account_creation_key': m002 } = migrations;
    await migrateSchema(database, { schema: LEDGER_SCHEMA, migrations: { '001_ledger': m001!, '002_account_creation_key': m002! } });
    const old = database.kysely();
    await sql`insert into ledger.accounts (account_number, kind, owner_user_id, name, currency) values
      (${ALICE}, 'CUSTOMER', 'alice', 'a', 'KRW'), (${BOB}, 'CUSTOMER', 'bob', 'b', 'KRW'), (${CAROL}, 'CUSTOMER', 'carol', 'c', 'KRW')`.execute(
      old,
    );
    await writeOldEntry(old, {
      key: 'legacy-fund',
      hash: 'f'.repeat(64),
      kind: 'DEPOSIT',
      from: '0000-SETTLEMENT-KRW',
      to: ALICE,
      minor: 10_000n,
      memo: 'fund',
      events: [],
    });
    oldEntryId = await writeOldEntry(old, {
      key: KEY,
      hash: oldRequestHash({
        kind: 'TRANSFER',
        from: ALICE,
        to: BOB,
        minor: 1_000n,
        debitMemo: '김*수',
        creditMemo: '점심값',
        owner: 'alice',
        events: oldEvents,
      }),
      kind: 'TRANSFER',
      from: ALICE,
      to: BOB,
      minor: 1_000n,
      memo: '김*수',
      events: oldEvents,
    });

    await migrateSchema(database, { schema: LEDGER_SCHEMA, migrations });
    db = database.kysely<LedgerDatabase>(LEDGER_SCHEMA);
    poster = new LedgerPoster(db, { maxBatchSize: 4, lingerMs: 1 });
    ledger = createLedger({ db, poster, store: createMemoryStore() });
  }, 60_000);

  afterAll(async () => {
    await poster?.close();
    await database?.close();
  });

  const retry = (extra: { from?: string; to?: string; minor?: bigint; sourceOwnerUserId?: string } = {}) =>
    ledger.postTransfer({
      idempotencyKey: KEY,
      fromAccountNumber: extra.from ?? ALICE,
      toAccountNumber: extra.to ?? BOB,
      amount: krw(extra.minor ?? 1_000n),
      // The retry of an updated caller: other memo text and no rendered sentences.
      debitMemo: '김*수 (reworded)',
      creditMemo: '점심값',
      events: [],
      sourceOwnerUserId: extra.sourceOwnerUserId ?? 'alice',
    });

  it('a retry of an old entry under its key gets the first result and posts nothing', async () => {
    const replay = await retry();
    expect(replay.entryId).toBe(oldEntryId);
    expect(replay.from.balanceAfter).toEqual(krw(9_000n));
    expect(replay.to.balanceAfter).toEqual(krw(1_000n));
    expect(await retry({ sourceOwnerUserId: undefined })).toEqual(replay);
    const entries = await db.selectFrom('entries').select(['idempotency_key', 'request_hash_version']).orderBy('id').execute();
    expect(entries).toEqual([
      { idempotency_key: 'legacy-fund', request_hash_version: 1 },
      { idempotency_key: KEY, request_hash_version: 1 },
    ]);
  });

  it('another amount, account or owner under an old key is still IDEMPOTENCY_KEY_REUSED', async () => {
    expect(await codeOf(retry({ minor: 1_001n }))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await codeOf(retry({ to: CAROL }))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await codeOf(retry({ from: BOB, to: ALICE }))).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await codeOf(retry({ sourceOwnerUserId: 'bob' }))).toBe('IDEMPOTENCY_KEY_REUSED');
    const balance = await db.selectFrom('accounts').select('balance_minor').where('account_number', '=', CAROL).executeTakeFirstOrThrow();
    expect(balance.balance_minor).toBe('0');
  });

  it('new entries store the version-2 hash', async () => {
    await ledger.postTransfer({
      idempotencyKey: 'new-1',
      fromAccountNumber: ALICE,
      toAccountNumber: CAROL,
      amount: krw(500n),
      debitMemo: '',
      creditMemo: '',
      events: [],
    });
    const row = await db
      .selectFrom('entries')
      .select('request_hash_version')
      .where('idempotency_key', '=', 'new-1')
      .executeTakeFirstOrThrow();
    expect(row.request_hash_version).toBe(2);
  });

  it('old outbox rows are served with their text, after them new rows with facts, in one id sequence', async () => {
    const posted = await ledger.postTransfer({
      idempotencyKey: 'new-2',
      fromAccountNumber: ALICE,
      toAccountNumber: CAROL,
      amount: krw(300n),
      debitMemo: '박*영',
      creditMemo: '앨리스',
      events: [{ userId: 'alice', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: '박*영' }],
    });
    const events = await ledger.listOutboxEvents(0n, 100);
    expect(events.map((e) => [e.id, e.entryId, e.userId, e.body])).toEqual([
      [1n, oldEntryId, 'alice', { text: { title: oldEvents[0]!.title, content: oldEvents[0]!.content } }],
      [2n, oldEntryId, 'bob', { text: { title: oldEvents[1]!.title, content: oldEvents[1]!.content } }],
      [
        3n,
        posted.entryId,
        'alice',
        {
          facts: {
            kind: 'TRANSFER_OUT',
            accountNumber: ALICE,
            currency: 'KRW',
            amountMinor: 300n,
            counterpartyName: '박*영',
            memo: '박*영',
          },
        },
      ],
    ]);
    // A row is facts or text, never half of each.
    await expect(
      sql`insert into ledger.outbox (id, entry_id, user_id, type, kind, title, content) values (99, ${oldEntryId.toString()}::bigint, 'x', 'TRANSFER_SUCCEED', 'TRANSFER_OUT', 't', 'c')`.execute(
        db,
      ),
    ).rejects.toThrow(/outbox_facts_or_text/);
  });
});
