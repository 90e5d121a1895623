import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { CasaDatabase, OpeningState, OpeningTable } from './casa.table';

export type CasaDb = Kysely<CasaDatabase>;

export interface TermRow {
  id: bigint;
  name: string;
  url: string;
  description: string;
  mandatory: boolean;
}

export interface OpeningRow {
  userId: string;
  state: OpeningState;
  idempotencyKey: string;
  passwordHash: string;
  accountNumber: string | null;
  limitPerTransactionKrw: bigint;
  limitPerDayKrw: bigint;
  claimToken: string | null;
  claimedUntil: Date | null;
  outcomeUnknownAt: Date | null;
  startedAt: Date;
  openedAt: Date | null;
}

function toOpening(row: Selectable<OpeningTable>): OpeningRow {
  return {
    userId: row.user_id,
    state: row.state,
    idempotencyKey: row.idempotency_key,
    passwordHash: row.password_hash,
    accountNumber: row.account_number,
    limitPerTransactionKrw: BigInt(row.limit_per_transaction_krw),
    limitPerDayKrw: BigInt(row.limit_per_day_krw),
    claimToken: row.claim_token,
    claimedUntil: row.claimed_until,
    outcomeUnknownAt: row.outcome_unknown_at,
    startedAt: row.started_at,
    openedAt: row.opened_at,
  };
}

/** The active terms, in display order. */
export async function listActiveTerms(db: CasaDb): Promise<TermRow[]> {
  const rows = await db
    .selectFrom('terms')
    .select(['id', 'name', 'url', 'description', 'mandatory'])
    .where('active', '=', true)
    .orderBy('sort_order')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, id: BigInt(r.id) }));
}

/** Records the user's answers (the latest answer per term wins, with its time). */
export async function saveAgreements(
  trx: Transaction<CasaDatabase>,
  userId: string,
  answers: readonly { termId: bigint; agreed: boolean }[],
  now: Date,
): Promise<void> {
  if (answers.length === 0) return;
  await trx
    .insertInto('term_agreements')
    .values(answers.map((a) => ({ user_id: userId, term_id: a.termId.toString(), agreed: a.agreed, answered_at: now })))
    .onConflict((oc) =>
      oc.columns(['user_id', 'term_id']).doUpdateSet({ agreed: sql`excluded.agreed`, answered_at: sql`excluded.answered_at` }),
    )
    .execute();
}

/** Ids of the active terms the user has agreed to (latest answer = agreed). */
export async function agreedTermIds(db: CasaDb | Transaction<CasaDatabase>, userId: string): Promise<Set<bigint>> {
  const rows = await db
    .selectFrom('term_agreements as a')
    .innerJoin('terms as t', 't.id', 'a.term_id')
    .select('a.term_id')
    .where('a.user_id', '=', userId)
    .where('a.agreed', '=', true)
    .where('t.active', '=', true)
    .execute();
  return new Set(rows.map((r) => BigInt(r.term_id)));
}

export async function findOpening(db: CasaDb, userId: string): Promise<OpeningRow | undefined> {
  const row = await db.selectFrom('openings').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return row ? toOpening(row) : undefined;
}

export interface NewOpening {
  userId: string;
  idempotencyKey: string;
  passwordHash: string;
  limitPerTransactionKrw: bigint;
  limitPerDayKrw: bigint;
  claimToken: string;
  claimedUntil: Date;
  now: Date;
}

/**
 * Inserts the PENDING row unless the user has one, then returns the user's row locked
 * (FOR UPDATE) so the caller decides under the lock whether it may take it over.
 */
export async function insertOrLockOpening(
  trx: Transaction<CasaDatabase>,
  opening: NewOpening,
): Promise<{ row: OpeningRow; inserted: boolean }> {
  const inserted = await trx
    .insertInto('openings')
    .values({
      user_id: opening.userId,
      state: 'PENDING',
      idempotency_key: opening.idempotencyKey,
      password_hash: opening.passwordHash,
      limit_per_transaction_krw: opening.limitPerTransactionKrw.toString(),
      limit_per_day_krw: opening.limitPerDayKrw.toString(),
      claim_token: opening.claimToken,
      claimed_until: opening.claimedUntil,
      started_at: opening.now,
    })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { row: toOpening(inserted), inserted: true };
  const row = await trx.selectFrom('openings').selectAll().where('user_id', '=', opening.userId).forUpdate().executeTakeFirstOrThrow();
  return { row: toOpening(row), inserted: false };
}

/** Takes over a PENDING row whose claim was released or has lapsed (the caller holds its lock). */
export async function reclaimOpening(
  trx: Transaction<CasaDatabase>,
  userId: string,
  claim: { passwordHash: string; claimToken: string; claimedUntil: Date; limitPerTransactionKrw: bigint; limitPerDayKrw: bigint },
): Promise<void> {
  await trx
    .updateTable('openings')
    .set({
      password_hash: claim.passwordHash,
      claim_token: claim.claimToken,
      claimed_until: claim.claimedUntil,
      limit_per_transaction_krw: claim.limitPerTransactionKrw.toString(),
      limit_per_day_krw: claim.limitPerDayKrw.toString(),
    })
    .where('user_id', '=', userId)
    .where('state', '=', 'PENDING')
    .execute();
}

/** PENDING → OPENED, only for the holder of the claim. False when the claim was lost meanwhile. */
export async function markOpened(db: CasaDb, userId: string, claimToken: string, accountNumber: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('openings')
    .set({
      state: 'OPENED',
      account_number: accountNumber,
      opened_at: now,
      claim_token: null,
      claimed_until: null,
      outcome_unknown_at: null,
    })
    .where('user_id', '=', userId)
    .where('state', '=', 'PENDING')
    .where('claim_token', '=', claimToken)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** The ledger's answer was lost: keep the row (and its key) for the next attempt, release the claim. */
export async function markOutcomeUnknown(db: CasaDb, userId: string, claimToken: string, now: Date): Promise<void> {
  await db
    .updateTable('openings')
    .set({ claim_token: null, claimed_until: null, outcome_unknown_at: now })
    .where('user_id', '=', userId)
    .where('state', '=', 'PENDING')
    .where('claim_token', '=', claimToken)
    .execute();
}

/**
 * The ledger refused for sure (nothing was created): forget the attempt so the user can start
 * again. A row whose earlier outcome is unknown is kept (an account may exist under its key).
 */
export async function abandonOpening(db: CasaDb, userId: string, claimToken: string): Promise<void> {
  await db
    .deleteFrom('openings')
    .where('user_id', '=', userId)
    .where('state', '=', 'PENDING')
    .where('claim_token', '=', claimToken)
    .where('outcome_unknown_at', 'is', null)
    .execute();
  await db
    .updateTable('openings')
    .set({ claim_token: null, claimed_until: null })
    .where('user_id', '=', userId)
    .where('state', '=', 'PENDING')
    .where('claim_token', '=', claimToken)
    .execute();
}
