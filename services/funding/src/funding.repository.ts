import type { Kysely, Selectable, Transaction } from 'kysely';
import type { ConsentState, ConsentTable, FundingDatabase, LinkedAccountState, LinkedAccountTable } from './funding.table';

export type FundingDb = Kysely<FundingDatabase>;

export interface LinkedAccountRow {
  id: bigint;
  userId: string;
  bankCode: string;
  accountNumber: string;
  bankName: string;
  state: LinkedAccountState;
  holderVerifiedAt: Date;
  linkedAt: Date | null;
  consentId: string | null;
  autoTopUpRegisteredAt: Date | null;
  /** When Konaplate registered the account by ARS; null until then. */
  arsVerifiedAt: Date | null;
}

export interface ConsentRow {
  id: string;
  userId: string;
  linkedAccountId: bigint;
  provider: string;
  state: ConsentState;
  receiptId: string | null;
  expiresAt: Date | null;
  signedAt: Date | null;
  verifyStartedAt: Date | null;
  verifiedAt: Date | null;
  /** Present once VERIFIED. */
  evidenceDer: Uint8Array | null;
  /** What the signature must cover, fixed from the request that was sent (null before REQUESTED). */
  expectedSignedContent: Uint8Array | null;
  updatedAt: Date;
}

export function toAccount(row: Selectable<LinkedAccountTable>): LinkedAccountRow {
  return {
    id: BigInt(row.id),
    userId: row.user_id,
    bankCode: row.bank_code,
    accountNumber: row.account_number,
    bankName: row.bank_name,
    state: row.state,
    holderVerifiedAt: row.holder_verified_at,
    linkedAt: row.linked_at,
    consentId: row.consent_id,
    autoTopUpRegisteredAt: row.auto_top_up_registered_at,
    arsVerifiedAt: row.ars_verified_at,
  };
}

function toConsent(row: Selectable<ConsentTable>): ConsentRow {
  return {
    id: row.id,
    userId: row.user_id,
    linkedAccountId: BigInt(row.linked_account_id),
    provider: row.provider,
    state: row.state,
    receiptId: row.receipt_id,
    expiresAt: row.expires_at,
    signedAt: row.signed_at,
    verifyStartedAt: row.verify_started_at,
    verifiedAt: row.verified_at,
    evidenceDer: row.evidence_der ? new Uint8Array(row.evidence_der) : null,
    expectedSignedContent: row.expected_signed_content ? new Uint8Array(row.expected_signed_content) : null,
    updatedAt: row.updated_at,
  };
}

/**
 * Records a successful holder verification. A second verification of the same account refreshes
 * its time and keeps its state (a linked account stays linked).
 */
export async function upsertHolderVerified(
  db: FundingDb,
  row: { userId: string; bankCode: string; accountNumber: string; bankName: string; correlationId: string; at: Date },
): Promise<LinkedAccountRow> {
  const saved = await db
    .insertInto('linked_accounts')
    .values({
      user_id: row.userId,
      bank_code: row.bankCode,
      account_number: row.accountNumber,
      bank_name: row.bankName,
      state: 'HOLDER_VERIFIED',
      holder_verified_at: row.at,
      holder_correlation_id: row.correlationId,
      updated_at: row.at,
    })
    .onConflict((oc) =>
      oc.constraint('linked_accounts_user_account_key').doUpdateSet({
        holder_verified_at: row.at,
        holder_correlation_id: row.correlationId,
        bank_name: row.bankName,
        updated_at: row.at,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return toAccount(saved);
}

export async function findLinkedAccount(db: FundingDb, userId: string, id: bigint): Promise<LinkedAccountRow | undefined> {
  const row = await db
    .selectFrom('linked_accounts')
    .selectAll()
    .where('id', '=', id.toString())
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row && toAccount(row);
}

export async function findLinkedAccountByNumber(
  db: FundingDb,
  userId: string,
  bankCode: string,
  accountNumber: string,
): Promise<LinkedAccountRow | undefined> {
  const row = await db
    .selectFrom('linked_accounts')
    .selectAll()
    .where('user_id', '=', userId)
    .where('bank_code', '=', bankCode)
    .where('account_number', '=', accountNumber)
    .executeTakeFirst();
  return row && toAccount(row);
}

/** The user's LINKED account registered for automatic top-up (at most one, by index). */
export async function findAutoTopUpAccount(db: FundingDb, userId: string): Promise<LinkedAccountRow | undefined> {
  const row = await db
    .selectFrom('linked_accounts')
    .selectAll()
    .where('user_id', '=', userId)
    .where('state', '=', 'LINKED')
    .where('auto_top_up_registered_at', 'is not', null)
    .executeTakeFirst();
  return row && toAccount(row);
}

export async function listLinkedAccounts(db: FundingDb, userId: string): Promise<LinkedAccountRow[]> {
  const rows = await db.selectFrom('linked_accounts').selectAll().where('user_id', '=', userId).orderBy('id').execute();
  return rows.map(toAccount);
}

/**
 * Marks the account as the user's automatic top-up account (and no other one), in one
 * transaction so the one-per-user index never sees two.
 */
export async function registerAutoTopUp(db: FundingDb, userId: string, id: bigint, at: Date): Promise<LinkedAccountRow> {
  return db.transaction().execute(async (trx) => {
    await trx
      .updateTable('linked_accounts')
      .set({ auto_top_up_registered_at: null, updated_at: at })
      .where('user_id', '=', userId)
      .where('id', '!=', id.toString())
      .where('auto_top_up_registered_at', 'is not', null)
      .execute();
    const row = await trx
      .updateTable('linked_accounts')
      .set({ auto_top_up_registered_at: at, updated_at: at })
      .where('id', '=', id.toString())
      .where('user_id', '=', userId)
      .where('state', '=', 'LINKED')
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAccount(row);
  });
}

export async function insertConsent(
  db: FundingDb,
  row: { id: string; userId: string; linkedAccountId: bigint; provider: string; at: Date },
): Promise<void> {
  await db
    .insertInto('consents')
    .values({
      id: row.id,
      user_id: row.userId,
      linked_account_id: row.linkedAccountId.toString(),
      provider: row.provider,
      state: 'REQUESTING',
      updated_at: row.at,
    })
    .execute();
}

export async function findConsent(db: FundingDb, userId: string, id: string): Promise<ConsentRow | undefined> {
  const row = await db.selectFrom('consents').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return row && toConsent(row);
}

export interface ConsentUpdate {
  state: ConsentState;
  receiptId?: string;
  expiresAt?: Date | null;
  signedAt?: Date | null;
  verifyStartedAt?: Date | null;
  failure?: string | null;
  expectedSignedContent?: Uint8Array;
}

/**
 * Moves a consent from one of `from` to `update.state` in one statement, so concurrent callers
 * agree on who made the move: undefined when the consent was no longer in `from`.
 */
export async function transitionConsent(
  db: FundingDb | Transaction<FundingDatabase>,
  id: string,
  from: readonly ConsentState[],
  update: ConsentUpdate,
  at: Date,
): Promise<ConsentRow | undefined> {
  const row = await db
    .updateTable('consents')
    .set({
      state: update.state,
      updated_at: at,
      ...(update.receiptId === undefined ? {} : { receipt_id: update.receiptId }),
      ...(update.expiresAt === undefined ? {} : { expires_at: update.expiresAt }),
      ...(update.signedAt === undefined ? {} : { signed_at: update.signedAt }),
      ...(update.verifyStartedAt === undefined ? {} : { verify_started_at: update.verifyStartedAt }),
      ...(update.failure === undefined ? {} : { failure: update.failure }),
      ...(update.expectedSignedContent === undefined ? {} : { expected_signed_content: update.expectedSignedContent }),
    })
    .where('id', '=', id)
    .where('state', 'in', [...from])
    .returningAll()
    .executeTakeFirst();
  return row && toConsent(row);
}

/**
 * Stores the evidence and links the account in one transaction: the consent becomes VERIFIED
 * only together with its signedData, and the account LINKED only together with its consent.
 * undefined when the consent was not VERIFYING any more.
 */
export async function completeVerification(
  db: FundingDb,
  consent: { id: string; linkedAccountId: bigint },
  evidence: { signedData: string; der: Uint8Array; verifiedAt: Date },
  at: Date,
): Promise<{ consent: ConsentRow; account: LinkedAccountRow } | undefined> {
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('consents')
      .set({
        state: 'VERIFIED',
        signed_data: evidence.signedData,
        evidence_der: evidence.der,
        verified_at: evidence.verifiedAt,
        failure: null,
        updated_at: at,
      })
      .where('id', '=', consent.id)
      .where('state', '=', 'VERIFYING')
      .returningAll()
      .executeTakeFirst();
    if (!updated) return undefined;
    const account = await trx
      .updateTable('linked_accounts')
      .set({ state: 'LINKED', linked_at: at, consent_id: consent.id, updated_at: at })
      .where('id', '=', consent.linkedAccountId.toString())
      .returningAll()
      .executeTakeFirstOrThrow();
    return { consent: toConsent(updated), account: toAccount(account) };
  });
}

/** The consent's signedData as stored (base64url), for submission to KFTC. */
export async function consentSignedData(db: FundingDb, id: string): Promise<string | null> {
  const row = await db.selectFrom('consents').select('signed_data').where('id', '=', id).executeTakeFirst();
  return row?.signed_data ?? null;
}
