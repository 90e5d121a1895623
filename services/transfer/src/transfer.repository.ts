import { answerEach, batchedWrite, hiddenArray, QueryTemplate } from '@kfrm/db';
import { sql, type Kysely, type Selectable } from 'kysely';
import { TRANSFER_SCHEMA, type TransferDatabase, type TransferTable } from './transfer.table';

export type TransferDb = Kysely<TransferDatabase>;
export type TransferRow = Selectable<TransferTable>;

export interface NewTransfer {
  id: string;
  userId: string;
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  targetHolderName: string;
  targetOwnerUserId: string | null;
  amountMinor: bigint;
  debitMemo: string;
  creditMemo: string;
  processId: string;
  processContext: string;
  signedContent: string;
  createdAt: Date;
}

// The writes of every transfer (insert, decision, outcome) are QueryTemplates: built and compiled
// once, not per call (Kysely's build/compile was ≈ 5–6 % of the backend's CPU under transfers),
// and batched (`batchedWrite`, ADR 0027): the writes of concurrent calls that arrive while one is
// on its way share a statement, one per transfer at a time.

/**
 * A PENDING transfer. A process that already has one (`process_id` unique) fails with the unique
 * violation, alone: the others it shared a statement with are written.
 */
export async function insertPendingTransfer(db: TransferDb, t: NewTransfer): Promise<void> {
  await writePending(db, t);
}

const writePending = batchedWrite(
  {
    one: async (db: TransferDb, t: NewTransfer) => {
      await insertPending.executeResult(db, { ...t, amountMinor: t.amountMinor.toString() });
    },
    many: async (db: TransferDb, asked: readonly NewTransfer[]) => {
      await insertPendingMany.execute(db, {
        ids: asked.map((t) => t.id),
        userIds: asked.map((t) => t.userId),
        sourceAccountNumbers: asked.map((t) => t.sourceAccountNumber),
        targetInstitutionCodes: asked.map((t) => t.targetInstitutionCode),
        targetAccountNumbers: asked.map((t) => t.targetAccountNumber),
        targetHolderNames: asked.map((t) => t.targetHolderName),
        targetOwnerUserIds: asked.map((t) => t.targetOwnerUserId),
        amounts: asked.map((t) => t.amountMinor.toString()),
        debitMemos: asked.map((t) => t.debitMemo),
        creditMemos: asked.map((t) => t.creditMemo),
        processIds: asked.map((t) => t.processId),
        processContexts: asked.map((t) => t.processContext),
        signedContents: asked.map((t) => t.signedContent),
        createdAts: asked.map((t) => t.createdAt),
      });
      return asked.map(() => undefined);
    },
  },
  (t) => t.id,
);

type InsertParams = Omit<NewTransfer, 'amountMinor'> & { amountMinor: string };
const insertPending = QueryTemplate.of<TransferDatabase, InsertParams>()((db, param) =>
  db.insertInto('transfers').values({
    id: param('id'),
    user_id: param('userId'),
    source_account_number: param('sourceAccountNumber'),
    target_institution_code: param('targetInstitutionCode'),
    target_account_number: param('targetAccountNumber'),
    target_holder_name: param('targetHolderName'),
    target_owner_user_id: param('targetOwnerUserId'),
    currency: 'KRW',
    amount_minor: param('amountMinor'),
    debit_memo: param('debitMemo'),
    credit_memo: param('creditMemo'),
    process_id: param('processId'),
    process_context: param('processContext'),
    signed_content: param('signedContent'),
    state: 'PENDING',
    signature_sha256: null,
    failure_code: null,
    entry_id: null,
    lease_owner: null,
    lease_until: null,
    created_at: param('createdAt'),
    executing_at: null,
    finished_at: null,
  }),
);

type PendingArrays = {
  ids: string[];
  userIds: string[];
  sourceAccountNumbers: string[];
  targetInstitutionCodes: string[];
  targetAccountNumbers: string[];
  targetHolderNames: string[];
  targetOwnerUserIds: (string | null)[];
  amounts: string[];
  debitMemos: string[];
  creditMemos: string[];
  processIds: string[];
  processContexts: string[];
  signedContents: string[];
  createdAts: Date[];
};

const table = (name: keyof TransferDatabase) => sql.table(`${TRANSFER_SCHEMA}.${name}`);
const insertPendingMany = new QueryTemplate<PendingArrays, never>(
  (_db, param) => sql<never>`
    insert into ${table('transfers')} (id, user_id, source_account_number, target_institution_code,
      target_account_number, target_holder_name, target_owner_user_id, currency, amount_minor,
      debit_memo, credit_memo, process_id, process_context, signed_content, state, created_at)
    select v.id, v.user_id, v.source_account_number, v.target_institution_code,
      v.target_account_number, v.target_holder_name, v.target_owner_user_id, 'KRW', v.amount_minor,
      v.debit_memo, v.credit_memo, v.process_id, v.process_context, v.signed_content, 'PENDING', v.created_at
    from unnest(
      ${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('userIds'), 'text')},
      ${hiddenArray(param('sourceAccountNumbers'), 'text')}, ${hiddenArray(param('targetInstitutionCodes'), 'text')},
      ${hiddenArray(param('targetAccountNumbers'), 'text')}, ${hiddenArray(param('targetHolderNames'), 'text')},
      ${hiddenArray(param('targetOwnerUserIds'), 'text')}, ${hiddenArray(param('amounts'), 'bigint')},
      ${hiddenArray(param('debitMemos'), 'text')}, ${hiddenArray(param('creditMemos'), 'text')},
      ${hiddenArray(param('processIds'), 'text')}, ${hiddenArray(param('processContexts'), 'text')},
      ${hiddenArray(param('signedContents'), 'text')}, ${hiddenArray(param('createdAts'), 'timestamptz')})
      as v(id, user_id, source_account_number, target_institution_code, target_account_number,
           target_holder_name, target_owner_user_id, amount_minor, debit_memo, credit_memo,
           process_id, process_context, signed_content, created_at)`,
);

export async function findTransferByProcess(db: TransferDb, processId: string): Promise<TransferRow | undefined> {
  return db.selectFrom('transfers').selectAll().where('process_id', '=', processId).executeTakeFirst();
}

export async function findTransfer(db: TransferDb, id: string): Promise<TransferRow | undefined> {
  return db.selectFrom('transfers').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * PENDING → EXECUTING with the signature that authorised it, and the lease to drive it taken by
 * `owner` until `until`, in one statement (one transaction, one WAL flush instead of two): the
 * row as it now is, or undefined when another call decided it first. A crash right after leaves
 * an EXECUTING transfer whose lease runs out, as a crash while driving it does. The memos Execute
 * gave (absent: the pre-check's stay) are set in the same statement, so the posted lines are the
 * decided ones.
 *
 * Batched (`batchedWrite`, ADR 0027): the decisions of concurrent Executes that arrive while one
 * is on its way share a statement, one per transfer at a time.
 */
export async function markExecutingLeased(
  db: TransferDb,
  id: string,
  signatureSha256: string,
  now: Date,
  owner: string,
  until: Date,
  memos: { debitMemo?: string; creditMemo?: string } = {},
): Promise<TransferRow | undefined> {
  return writeExecuting(db, {
    id,
    signatureSha256,
    now,
    owner,
    until,
    debitMemo: memos.debitMemo ?? null,
    creditMemo: memos.creditMemo ?? null,
  });
}

type ExecutingRequest = {
  id: string;
  signatureSha256: string;
  now: Date;
  owner: string;
  until: Date;
  debitMemo: string | null;
  creditMemo: string | null;
};

const writeExecuting = batchedWrite(
  {
    one: (db: TransferDb, request: ExecutingRequest) => markExecuting.executeTakeFirst(db, request),
    many: async (db: TransferDb, asked: readonly ExecutingRequest[]) => {
      const rows = await markExecutingMany.execute(db, {
        ids: asked.map((a) => a.id),
        signatures: asked.map((a) => a.signatureSha256),
        nows: asked.map((a) => a.now),
        owners: asked.map((a) => a.owner),
        untils: asked.map((a) => a.until),
        debitMemos: asked.map((a) => a.debitMemo),
        creditMemos: asked.map((a) => a.creditMemo),
      });
      // One request per transfer in a batch (the key), so a row answers the request of its id.
      return answerEach(
        asked,
        (a) => a.id,
        rows.map((r) => [r.id, r] as const),
      );
    },
  },
  (request) => request.id,
);

/** A memo not given (null) keeps the stored one: one statement for every combination. */
const markExecuting = QueryTemplate.of<TransferDatabase, ExecutingRequest>()((db, param) =>
  db
    .updateTable('transfers')
    .set({
      state: 'EXECUTING',
      signature_sha256: param('signatureSha256'),
      executing_at: param('now'),
      lease_owner: param('owner'),
      lease_until: param('until'),
      debit_memo: sql<string>`coalesce(${param('debitMemo')}::text, debit_memo)`,
      credit_memo: sql<string>`coalesce(${param('creditMemo')}::text, credit_memo)`,
    })
    .where('id', '=', param('id'))
    .where('state', '=', 'PENDING')
    .returningAll(),
);
const markExecutingMany = new QueryTemplate<
  {
    ids: string[];
    signatures: string[];
    nows: Date[];
    owners: string[];
    untils: Date[];
    debitMemos: (string | null)[];
    creditMemos: (string | null)[];
  },
  TransferRow
>(
  (_db, param) => sql<TransferRow>`
    update ${table('transfers')} as t
    set state = 'EXECUTING', signature_sha256 = v.signature_sha256, executing_at = v.executing_at,
        lease_owner = v.lease_owner, lease_until = v.lease_until,
        debit_memo = coalesce(v.debit_memo, t.debit_memo), credit_memo = coalesce(v.credit_memo, t.credit_memo)
    from unnest(${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('signatures'), 'text')}, ${hiddenArray(param('nows'), 'timestamptz')},
                ${hiddenArray(param('owners'), 'text')}, ${hiddenArray(param('untils'), 'timestamptz')},
                ${hiddenArray(param('debitMemos'), 'text')}, ${hiddenArray(param('creditMemos'), 'text')})
      as v(id, signature_sha256, executing_at, lease_owner, lease_until, debit_memo, credit_memo)
    where t.id = v.id and t.state = 'PENDING'
    returning t.*`,
);

/** Takes the right to drive an EXECUTING transfer until `until`, unless someone else holds it. */
export async function takeLease(db: TransferDb, id: string, owner: string, now: Date, until: Date): Promise<boolean> {
  const result = await db
    .updateTable('transfers')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where('state', '=', 'EXECUTING')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * EXECUTING → SUCCEEDED. Also from FAILED: the ledger is the truth, and a posting that committed
 * must never be shown as failed (only possible when a lease ran out mid-call).
 *
 * Batched (`batchedWrite`, ADR 0027), one per transfer at a time.
 */
export async function markSucceeded(db: TransferDb, id: string, entryId: bigint, now: Date): Promise<void> {
  await writeSucceeded(db, { id, entryId: entryId.toString(), now });
}

type SucceededRequest = { id: string; entryId: string; now: Date };

const writeSucceeded = batchedWrite(
  {
    one: async (db: TransferDb, request: SucceededRequest) => {
      await succeeded.executeResult(db, request);
    },
    many: async (db: TransferDb, asked: readonly SucceededRequest[]) => {
      await markSucceededMany.execute(db, {
        ids: asked.map((a) => a.id),
        entryIds: asked.map((a) => a.entryId),
        nows: asked.map((a) => a.now),
      });
      return asked.map(() => undefined);
    },
  },
  (request) => request.id,
);

const succeeded = QueryTemplate.of<TransferDatabase, SucceededRequest>()((db, param) =>
  db
    .updateTable('transfers')
    .set({
      state: 'SUCCEEDED',
      entry_id: param('entryId'),
      failure_code: null,
      finished_at: param('now'),
      lease_owner: null,
      lease_until: null,
    })
    .where('id', '=', param('id'))
    .where('state', 'in', ['EXECUTING', 'FAILED']),
);

const markSucceededMany = new QueryTemplate<{ ids: string[]; entryIds: string[]; nows: Date[] }, never>(
  (_db, param) => sql<never>`
    update ${table('transfers')} as t
    set state = 'SUCCEEDED', entry_id = v.entry_id, failure_code = null, finished_at = v.finished_at,
        lease_owner = null, lease_until = null
    from unnest(${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('entryIds'), 'bigint')}, ${hiddenArray(param('nows'), 'timestamptz')})
      as v(id, entry_id, finished_at)
    where t.id = v.id and t.state in ('EXECUTING', 'FAILED')`,
);

/** EXECUTING → FAILED with the ledger's refusal, only by the lease holder. */
export async function markFailed(db: TransferDb, id: string, owner: string, code: string, now: Date): Promise<void> {
  await db
    .updateTable('transfers')
    .set({ state: 'FAILED', failure_code: code, finished_at: now, lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('state', '=', 'EXECUTING')
    .where('lease_owner', '=', owner)
    .execute();
}

/** Releases the lease after an outcome-unknown call, so the next Execute can drive at once. */
export async function releaseLease(db: TransferDb, id: string, owner: string): Promise<void> {
  await db
    .updateTable('transfers')
    .set({ lease_owner: null, lease_until: null })
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .execute();
}

export interface RecentTarget {
  institutionCode: string;
  accountNumber: string;
  holderName: string;
}

/** The user's distinct targets of succeeded transfers, most recent first. */
export async function listRecentTargets(db: TransferDb, userId: string, limit: number): Promise<RecentTarget[]> {
  const rows = await db
    .selectFrom('transfers')
    .select(['target_institution_code', 'target_account_number'])
    .select(sql<string>`(array_agg(target_holder_name order by created_at desc))[1]`.as('holder_name'))
    .select(sql<Date>`max(created_at)`.as('last_at'))
    .where('user_id', '=', userId)
    .where('state', '=', 'SUCCEEDED')
    .groupBy(['target_institution_code', 'target_account_number'])
    .orderBy('last_at', 'desc')
    .orderBy('target_account_number')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    institutionCode: r.target_institution_code,
    accountNumber: r.target_account_number,
    holderName: r.holder_name,
  }));
}

/** Removes PENDING transfers created before `cutoff` (their process has long expired); how many. */
export async function deletePendingBefore(db: TransferDb, cutoff: Date): Promise<number> {
  const result = await db.deleteFrom('transfers').where('state', '=', 'PENDING').where('created_at', '<', cutoff).executeTakeFirst();
  return Number(result.numDeletedRows);
}
