import type { Selectable } from 'kysely';
import type { FundingDb } from './funding.repository';
import type { KonaplateMemberTable } from './funding.table';

export interface KonaplateMemberRow {
  userId: string;
  loginId: string;
  /** null until Konaplate's registration answered. */
  memberId: string | null;
}

function toMember(row: Selectable<KonaplateMemberTable>): KonaplateMemberRow {
  return { userId: row.user_id, loginId: row.login_id, memberId: row.member_id };
}

export async function findKonaplateMember(db: FundingDb, userId: string): Promise<KonaplateMemberRow | undefined> {
  const row = await db.selectFrom('konaplate_members').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return row ? toMember(row) : undefined;
}

/**
 * The user's row, created with `loginId` when there is none. Of two concurrent first calls one
 * insert wins and both read its loginId, so both register with the same idempotency key.
 */
export async function reserveKonaplateLoginId(db: FundingDb, userId: string, loginId: string, at: Date): Promise<KonaplateMemberRow> {
  await db
    .insertInto('konaplate_members')
    .values({ user_id: userId, login_id: loginId, member_id: null, registered_at: null, updated_at: at })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .execute();
  return (await findKonaplateMember(db, userId))!;
}

/** Stores the issued member id; a row that already has one keeps it (the same id, by loginId). */
export async function recordKonaplateMemberId(db: FundingDb, userId: string, memberId: string, at: Date): Promise<KonaplateMemberRow> {
  await db
    .updateTable('konaplate_members')
    .set({ member_id: memberId, registered_at: at, updated_at: at })
    .where('user_id', '=', userId)
    .where('member_id', 'is', null)
    .execute();
  return (await findKonaplateMember(db, userId))!;
}

/** Users with an issued member id, in user-id order, `limit` after `afterUserId` (paging). */
export async function listIssuedKonaplateMembers(db: FundingDb, afterUserId: string, limit: number): Promise<KonaplateMemberRow[]> {
  const rows = await db
    .selectFrom('konaplate_members')
    .selectAll()
    .where('member_id', 'is not', null)
    .where('user_id', '>', afterUserId)
    .orderBy('user_id')
    .limit(limit)
    .execute();
  return rows.map(toMember);
}
