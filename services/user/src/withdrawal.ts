/**
 * Member withdrawal (회원 탈퇴; MembershipService, extension). The rules, in docs/design.md
 * ("Member withdrawal"):
 * - every account must be closed first (MEMBER_HAS_OPEN_ACCOUNTS, nothing written);
 * - step-up: a WITHDRAW_MEMBER process (PIN) for exactly this member, DONE and consumed once;
 * - then, in order, each step idempotent: withdrawal_requested_at set; ACTIVATED → DEACTIVATED
 *   through the accounts' own status change (which ends every session in its transaction, the
 *   user service's existing session revocation); identity erased (phone, CI, device uuid,
 *   resident id hash; the name sealed, the KYC data kept sealed; the user token made unusable;
 *   retention end recorded);
 *   the bound device revoked through the device service (the existing DeviceRevoker);
 *   credentials revoked by the auth service (PIN, pattern, biometric keys, signing
 *   certificates); withdrawal_completed_at.
 * A failure after DEACTIVATED still answers success: the member is out (no session, no login),
 * and the housekeeping tick finishes the remaining steps (finishWithdrawals).
 */
import { randomBytes } from 'node:crypto';
import { failWith } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { AuthenticationProcess } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { DeviceRevoker } from './deps';
import { tokenHash } from './tokens';
import type { ProcessRecord, UserRecord, UserStatusName } from './user.model';
import {
  eraseWithdrawnIdentity,
  findUserById,
  findWithdrawal,
  listUnfinishedWithdrawals,
  markWithdrawalCompleted,
  markWithdrawalRequested,
  type UserDb,
} from './user.repository';

export type WithdrawalCode = 'MEMBER_HAS_OPEN_ACCOUNTS' | 'AUTHENTICATION_FAILED';
const withdrawalFailed = failWith<WithdrawalCode>();

/** 전자금융거래법 (Art. 22, Enforcement Decree Art. 12): transaction records are kept 5 years. */
export const RETENTION_YEARS = 5;

/** The ledger, as withdrawal needs it: how many of the member's accounts are open. */
export interface MemberAccounts {
  countOpenAccounts(userId: bigint): Promise<number>;
}

/** The auth service's CredentialService.RevokeCredentials. */
export interface CredentialRevoker {
  revokeCredentials(userId: bigint): Promise<void>;
}

/** Seals the withdrawn member's name under the data key, bound to the user. */
export interface WithdrawnNameSealer {
  sealName(userId: bigint, name: string): string;
}

export interface WithdrawalDeps {
  db: UserDb;
  logger: Logger;
  now: () => Date;
  ledger: MemberAccounts;
  credentials: CredentialRevoker;
  devices: DeviceRevoker;
  names: WithdrawnNameSealer;
  processes: {
    createProcess(input: { userId: bigint; transactionType: 'WITHDRAW_MEMBER'; transactionContext: string }): Promise<ProcessRecord>;
    consumeProcess(input: {
      processId: string;
      userId: bigint;
      transactionType: 'WITHDRAW_MEMBER';
      transactionContext: string;
    }): Promise<unknown>;
    toWire(process: ProcessRecord): AuthenticationProcess;
  };
  updateUserStatus(input: {
    userId: bigint;
    expectedStatus: UserStatusName;
    newStatus: UserStatusName;
    reason: string;
    unlock: boolean;
  }): Promise<UserRecord>;
}

const contextOf = (userId: bigint) => JSON.stringify({ user_id: userId.toString() });

function addYears(date: Date, years: number): Date {
  const d = new Date(date.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

export function createWithdrawal(deps: WithdrawalDeps) {
  const { db, logger } = deps;

  async function requireNoOpenAccounts(userId: bigint): Promise<void> {
    if ((await deps.ledger.countOpenAccounts(userId)) > 0)
      throw withdrawalFailed('MEMBER_HAS_OPEN_ACCOUNTS', 'close every account before withdrawing');
  }

  /** Erase, device, credentials, done: each step safe to repeat. */
  async function finish(userId: bigint): Promise<Date> {
    const user = await findUserById(db, userId);
    if (user?.status !== 'DEACTIVATED') throw new Error(`user ${userId} is not DEACTIVATED`);
    const now = deps.now();
    if (user.userName !== '' || user.phoneNumber !== '') {
      await eraseWithdrawnIdentity(db, userId, {
        withdrawnNameSealed: deps.names.sealName(userId, user.userName),
        unusableTokenHash: tokenHash(randomBytes(32).toString('base64url')),
        retainUntil: addYears(now, RETENTION_YEARS),
        now,
      });
    }
    if (user.deviceId !== null) await deps.devices.revokeDevice(user.deviceId, 'USER_BLOCKED');
    await deps.credentials.revokeCredentials(userId);
    await markWithdrawalCompleted(db, userId, now);
    const row = await findWithdrawal(db, userId);
    logger.info({ user_id: userId.toString() }, 'member withdrawal completed');
    return row?.withdrawn_at ?? now;
  }

  return {
    /** Checks that no account is open and starts the WITHDRAW_MEMBER process. */
    async prepareWithdrawal(userId: bigint): Promise<AuthenticationProcess> {
      await requireNoOpenAccounts(userId);
      const process = await deps.processes.createProcess({
        userId,
        transactionType: 'WITHDRAW_MEMBER',
        transactionContext: contextOf(userId),
      });
      return deps.processes.toWire(process);
    },

    /** Withdraws the member (see the file comment). Answers when the member is out. */
    async withdraw(userId: bigint, processId: string): Promise<{ withdrawnAt: Date }> {
      await requireNoOpenAccounts(userId);
      try {
        await deps.processes.consumeProcess({
          processId,
          userId,
          transactionType: 'WITHDRAW_MEMBER',
          transactionContext: contextOf(userId),
        });
      } catch {
        // Unknown, another user's, not DONE, used, expired: one answer.
        throw withdrawalFailed('AUTHENTICATION_FAILED', 'the authentication process failed');
      }
      const now = deps.now();
      await markWithdrawalRequested(db, userId, now);
      // The existing status change: DEACTIVATED ends every session of the user in its transaction.
      await deps.updateUserStatus({
        userId,
        expectedStatus: 'ACTIVATED',
        newStatus: 'DEACTIVATED',
        reason: 'member withdrawal',
        unlock: false,
      });
      logger.info({ user_id: userId.toString() }, 'member withdrawn (DEACTIVATED)');
      try {
        return { withdrawnAt: await finish(userId) };
      } catch (err) {
        // Out already; the housekeeping tick finishes the rest.
        logger.warn({ err, user_id: userId.toString() }, 'withdrawal side effects incomplete; the housekeeping tick retries');
        return { withdrawnAt: now };
      }
    },

    /** Housekeeping: finishes withdrawals a crash or an outage interrupted. */
    async finishWithdrawals(limit = 100): Promise<number> {
      let finished = 0;
      for (const userId of await listUnfinishedWithdrawals(db, limit)) {
        try {
          await finish(userId);
          finished++;
        } catch (err) {
          logger.warn({ err, user_id: userId.toString() }, 'finishing a withdrawal failed; retried at the next tick');
        }
      }
      return finished;
    },
  };
}

export type Withdrawal = ReturnType<typeof createWithdrawal>;
