/**
 * The user's Konaplate member id: Konaplate's `userId` is the id it issues at member
 * registration ("회원가입 시 부여되는 회원의 고유 ID", seeds 001/002), never the KFRM user id.
 *
 * Registered once per user. The loginId (the registration's idempotency key) is written before
 * the first call and reused by every later attempt, so an answer lost to a timeout or a crash is
 * recovered by sending the same registration again: Konaplate answers the member it already
 * issued for that loginId (member-registration.ts) instead of creating a second one.
 */
import { randomBytes } from 'node:crypto';
import type { FundingContext } from './funding.context';
import { findKonaplateMember, recordKonaplateMemberId, reserveKonaplateLoginId } from './konaplate-member.repository';
import type { UserRecord } from './user-directory';

/** The member id when the user is registered, undefined otherwise (no call is made). */
export async function knownKonaplateMemberId(deps: Pick<FundingContext, 'db'>, userId: string): Promise<string | undefined> {
  return (await findKonaplateMember(deps.db, userId))?.memberId ?? undefined;
}

/**
 * The member id, registering the user at Konaplate first when needed. Throws the Konaplate
 * client's errors; the calling use case maps them to its own codes.
 */
export async function konaplateMemberId(deps: Pick<FundingContext, 'db' | 'konaplate' | 'log' | 'now'>, user: UserRecord): Promise<string> {
  const known = await findKonaplateMember(deps.db, user.userId);
  if (known?.memberId) return known.memberId;
  // 'kfrm' + 32 hex: random, so it says nothing about the user; stored before any call.
  const reserved = known ?? (await reserveKonaplateLoginId(deps.db, user.userId, `kfrm${randomBytes(16).toString('hex')}`, deps.now()));
  const { userId: memberId } = await deps.konaplate.registerMember({
    loginId: reserved.loginId,
    userName: user.name,
    birthDate: user.birthDate,
    phoneNumber: user.phone,
  });
  const recorded = await recordKonaplateMemberId(deps.db, user.userId, memberId, deps.now());
  if (recorded.memberId !== memberId) {
    // Konaplate answered another id for the same loginId than the one stored: never pick silently.
    deps.log.error({ user_id: user.userId }, 'konaplate issued a different member id for the same loginId');
    throw new Error('Konaplate member id differs from the stored one for the same loginId');
  }
  deps.log.info({ user_id: user.userId }, 'konaplate member registered');
  return memberId;
}
