import { isUniqueViolation } from '@kfrm/db';
import { failWith, InvalidArgumentError } from '@kfrm/errors';
import type { UserDomainDeps } from './deps';
import { isPlausibleResidentId } from './resident-id';
import { residentIdOf } from './resident-id-seal';
import { newCustomerId, newToken, tokenHash } from './tokens';
import type { KycStatusName, UserRecord, UserStatusName } from './user.model';
import {
  findLiveUserIdsOnDevice,
  clearResidentIdHash,
  findLiveUsersByCi,
  findUserByCustomerId,
  findUserById,
  findUserByTokenHash,
  insertUser,
  lockIdentity,
  lockUserByResidentIdHash,
  revokeUserSessions,
  setCustomerInfo,
  setKyc,
  setUserDevice,
  setUserStatus,
} from './user.repository';
import { isAllowedTransition, isLeftoverRegistration } from './user-status';

const MAX_FIELD_CHARS = 256;

function requireText(value: string, field: string, options: { optional?: boolean } = {}): string {
  if (typeof value !== 'string' || value.length > MAX_FIELD_CHARS) throw new InvalidArgumentError(`${field} is too long`);
  if (!options.optional && value.trim() === '') throw new InvalidArgumentError(`${field} is required`);
  return value;
}

/** What RegisterKyc may carry: the seed's free-form string, bounded (it is kept for years). */
export const MAX_KYC_DATA_BYTES = 32 * 1024;

function requireKycData(value: string): string {
  if (Buffer.byteLength(value, 'utf8') > MAX_KYC_DATA_BYTES) throw new InvalidArgumentError(`kyc_data exceeds ${MAX_KYC_DATA_BYTES} bytes`);
  if (value.trim() === '') throw new InvalidArgumentError('kyc_data is blank');
  return value;
}

/** Names compare after Unicode normalisation, case folding and collapsing of white space. */
function comparableName(name: string): string {
  return name.normalize('NFC').trim().replace(/\s+/gu, ' ').toLowerCase();
}

/*
 * The seed codes each use case raises. The handlers' policies check them against each method's
 * ApiError at compile time; each use case throws through its maker.
 */
export type FindUserCode = 'USER_NOT_FOUND';
export type RegisterUserCode = 'ALREADY_REGISTERED_USER';
export type UpdateUserStatusCode = FindUserCode | 'USER_STATUS_CONFLICT';
export type UpdateCustomerInfoCode = FindUserCode | 'USER_VERIFICATION_FAILED' | 'ALREADY_REGISTERED_USER';
export type UpdateKycCode = FindUserCode;
export type BindDeviceCode = FindUserCode;

const userNotFound = () => failWith<FindUserCode>()('USER_NOT_FOUND', 'user not found');
const registerFailed = failWith<RegisterUserCode>();
const statusFailed = failWith<UpdateUserStatusCode>();
const customerInfoFailed = failWith<UpdateCustomerInfoCode>();

export interface RegisterUserInput {
  idpType: string;
  idpName: string;
  userName: string;
  phoneNumber: string;
  userCi: string;
  deviceId: bigint;
  deviceUuid: string;
}

export interface RegisteredUser {
  user: UserRecord;
  /** Returned once; only its hash is stored. */
  userToken: string;
}

export interface UpdateUserStatusInput {
  userId: bigint;
  expectedStatus: UserStatusName;
  newStatus: UserStatusName;
  reason: string;
  unlock: boolean;
}

/** User records: registration, look-ups, status, customer info, KYC and the bound device. */
export function createAccounts(deps: UserDomainDeps) {
  const clock = deps.now ?? (() => new Date());
  const { db, logger } = deps;

  async function blockSideEffects(user: UserRecord): Promise<void> {
    if (user.deviceId === null) return;
    await deps.devices.revokeDevice(user.deviceId, 'USER_BLOCKED');
  }

  return {
    /**
     * Creates a CREATED user for a verified identity. ALREADY_REGISTERED_USER when an ACTIVATED or
     * BLOCKED user holds the identity; a CREATED/AGREED leftover of an earlier attempt is
     * DEACTIVATED ("registration replaced"), so its token stops working and the new one wins.
     */
    async registerUser(input: RegisterUserInput): Promise<RegisteredUser> {
      const userCi = requireText(input.userCi, 'user_ci');
      const deviceUuid = requireText(input.deviceUuid, 'device_uuid');
      const fields = {
        idpType: requireText(input.idpType, 'idp_type', { optional: true }),
        idpName: requireText(input.idpName, 'idp_name', { optional: true }),
        userName: requireText(input.userName, 'user_name'),
        phoneNumber: requireText(input.phoneNumber, 'phone_number'),
      };
      const userToken = newToken();
      const now = clock();
      let replaced: bigint[] = [];
      const user = await db.transaction().execute(async (trx) => {
        await lockIdentity(trx, userCi);
        const live = await findLiveUsersByCi(trx, userCi);
        if (live.some((u) => !isLeftoverRegistration(u.status)))
          throw registerFailed('ALREADY_REGISTERED_USER', 'the user is already registered');
        for (const leftover of live) {
          await setUserStatus(trx, leftover.id, 'DEACTIVATED', 'registration replaced', now);
          await revokeUserSessions(trx, leftover.id, null, 'registration replaced', now);
        }
        replaced = live.map((u) => u.id);
        return insertUser(trx, {
          ...fields,
          userCi,
          userTokenHash: tokenHash(userToken),
          deviceId: input.deviceId === 0n ? null : input.deviceId,
          deviceUuid,
          now,
        });
      });
      logger.info({ user_id: user.id.toString(), device_id: user.deviceId?.toString() }, 'user registered');
      for (const id of replaced) await deps.revocations.sessionsRevoked(id, null);
      return { user, userToken };
    },

    async findByUserToken(userToken: string): Promise<UserRecord> {
      if (typeof userToken !== 'string' || userToken === '' || userToken.length > 512) throw userNotFound();
      const user = await findUserByTokenHash(db, tokenHash(userToken));
      if (!user) throw userNotFound();
      return user;
    },

    /** Who the device is bound to: the users (not DEACTIVATED) whose device it is. */
    async findUsersOnDevice(deviceId: bigint): Promise<bigint[]> {
      if (deviceId <= 0n) return [];
      return findLiveUserIdsOnDevice(db, deviceId);
    },

    async findByUserId(userId: bigint): Promise<UserRecord> {
      const user = await findUserById(db, userId);
      if (!user) throw userNotFound();
      return user;
    },

    async findByCustomerId(customerId: string): Promise<UserRecord> {
      if (!/^C[0-9]{12}$/.test(customerId)) throw userNotFound();
      const user = await findUserByCustomerId(db, customerId);
      if (!user) throw userNotFound();
      return user;
    },

    /**
     * Compare-and-set of the user's status along the allowed transitions (user-status.ts).
     * BLOCKED and DEACTIVATED end every session of the user in the same transaction; BLOCKED
     * then revokes the bound device's certificate. If that call fails the status stays BLOCKED
     * and the error (UNAVAILABLE) reaches the caller, who repeats BLOCKED → BLOCKED to retry.
     */
    async updateUserStatus(input: UpdateUserStatusInput): Promise<UserRecord> {
      const reason = requireText(input.reason, 'reason', { optional: true });
      const now = clock();
      const { user, revoked } = await db.transaction().execute(async (trx) => {
        const current = await findUserById(trx, input.userId, { forUpdate: true });
        if (!current) throw userNotFound();
        if (current.status !== input.expectedStatus || !isAllowedTransition(current.status, input.newStatus, input.unlock)) {
          throw statusFailed('USER_STATUS_CONFLICT', 'the user status cannot be changed like this');
        }
        const updated = await setUserStatus(trx, current.id, input.newStatus, reason === '' ? null : reason, now);
        const ended = input.newStatus === 'BLOCKED' || input.newStatus === 'DEACTIVATED';
        const revoked = ended ? await revokeUserSessions(trx, current.id, null, `user ${input.newStatus.toLowerCase()}`, now) : 0;
        return { user: updated, revoked };
      });
      logger.info(
        { user_id: user.id.toString(), from: input.expectedStatus, to: input.newStatus, sessions_revoked: revoked },
        'user status changed',
      );
      if (revoked > 0) await deps.revocations.sessionsRevoked(user.id, null);
      if (input.newStatus === 'BLOCKED') await blockSideEffects(user);
      return user;
    },

    /**
     * Records the resident id (format and plausible birth date checked; the name must be the one
     * identity verification established) and gives the user a customer id on the first call.
     * A resident id once recorded cannot be replaced by another. USER_VERIFICATION_FAILED when
     * any of this does not hold.
     */
    async updateCustomerInfo(input: { userId: bigint; residentId: string; name: string }): Promise<UserRecord> {
      const now = clock();
      const verificationFailed = () =>
        customerInfoFailed('USER_VERIFICATION_FAILED', 'the customer information does not match the verified identity');
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(async (trx) => {
            const user = await findUserById(trx, input.userId, { forUpdate: true });
            if (!user) throw userNotFound();
            if (typeof input.residentId !== 'string' || !isPlausibleResidentId(input.residentId, now)) throw verificationFailed();
            if (typeof input.name !== 'string' || input.name.trim() === '' || comparableName(input.name) !== comparableName(user.userName))
              throw verificationFailed();
            const recorded = residentIdOf(deps.residentIds, user);
            if (recorded !== null && recorded !== input.residentId) throw verificationFailed();
            // One member per resident registration number, found by its keyed hash (nothing is
            // opened). A member's (ACTIVATED, BLOCKED) refuses; an abandoned sign-up's (CREATED,
            // AGREED) is let go: the same person starting again. DEACTIVATED members hold none.
            const hash = deps.residentIdHashes.hash(input.residentId);
            const holder = await lockUserByResidentIdHash(trx, hash, user.id);
            if (holder && (holder.status === 'ACTIVATED' || holder.status === 'BLOCKED'))
              throw customerInfoFailed('ALREADY_REGISTERED_USER', 'the resident id is already a member’s');
            if (holder) await clearResidentIdHash(trx, holder.id);
            // Sealed afresh even when unchanged: a legacy plain row is sealed here too.
            return setCustomerInfo(
              trx,
              user.id,
              deps.residentIds.seal(user.id, input.residentId),
              hash,
              user.customerId ?? newCustomerId(),
              now,
            );
          });
        } catch (err) {
          // Two users drew the same customer id (one in 10^12): draw again. Or two sign-ups sent
          // the same resident id at once: again, and the loser finds the winner's hash.
          if (attempt < 3 && isUniqueViolation(err)) continue;
          throw err;
        }
      }
    },

    /**
     * `kycData` (the sign-up's RegisterKyc) is sealed and stored with the status in one UPDATE:
     * the reviewer never sees a REGISTERED customer without the data, nor data without it.
     */
    async updateKyc(input: { userId: bigint; kycStatus: KycStatusName; reason: string; kycData?: string }): Promise<UserRecord> {
      const reason = requireText(input.reason, 'reason', { optional: true });
      const kycData = input.kycData === undefined || input.kycData === '' ? undefined : requireKycData(input.kycData);
      const sealed = kycData === undefined ? undefined : deps.kycData.seal(input.userId, kycData);
      const user = await setKyc(db, input.userId, input.kycStatus, reason === '' ? null : reason, clock(), sealed);
      if (!user) throw userNotFound();
      logger.info({ user_id: user.id.toString(), kyc_status: user.kycStatus }, 'kyc status changed');
      return user;
    },

    /**
     * Moves the user to another device and ends the sessions bound to the previous one (they
     * are bound to a device the user no longer uses). Revoking the previous device's certificate
     * is the caller's step (device change / reinstall flow), with DeviceRegistryService.
     * A non-empty `deviceUuid` becomes the registered DeviceUUID in the same transaction: a later
     * reinstall of the app on the new phone sends it and must be told from a device change.
     * Empty keeps the one on record.
     */
    async bindDevice(input: { userId: bigint; deviceId: bigint; deviceUuid?: string }): Promise<{ previousDeviceId: bigint | null }> {
      if (input.deviceId === 0n) throw new InvalidArgumentError('device_id is required');
      const uuid = requireText(input.deviceUuid ?? '', 'device_uuid', { optional: true });
      const deviceUuid = uuid.trim() === '' ? undefined : uuid;
      const now = clock();
      const result = await db.transaction().execute(async (trx) => {
        const user = await findUserById(trx, input.userId, { forUpdate: true });
        if (!user) throw userNotFound();
        const previous = user.deviceId;
        // A retry of the same binding changes nothing.
        if (previous === input.deviceId && (deviceUuid === undefined || deviceUuid === user.deviceUuid))
          return { previousDeviceId: previous, revoked: 0 };
        await setUserDevice(trx, user.id, input.deviceId, deviceUuid, now);
        const revoked =
          previous === null || previous === input.deviceId ? 0 : await revokeUserSessions(trx, user.id, previous, 'device changed', now);
        return { previousDeviceId: previous, revoked };
      });
      logger.info(
        {
          user_id: input.userId.toString(),
          device_id: input.deviceId.toString(),
          previous_device_id: result.previousDeviceId?.toString(),
          sessions_revoked: result.revoked,
        },
        'device bound',
      );
      if (result.revoked > 0 && result.previousDeviceId !== null)
        await deps.revocations.sessionsRevoked(input.userId, result.previousDeviceId);
      return { previousDeviceId: result.previousDeviceId };
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
