import {
  answerEach,
  anyOfKeys,
  batchedRead,
  batchedWrite,
  hiddenArray,
  isUniqueViolation,
  QueryTemplate,
  type TemplateParam,
} from '@kfrm/db';
import { sql, type InferResult, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { CreatedProcess, ProcessRecord, SessionRecord, UserRecord } from './user.model';
import type {
  KycStatusName,
  ProcessStatusName,
  ProcessesTable,
  SessionsTable,
  StoredAuthentication,
  TransactionTypeName,
  UserDatabase,
  UserStatusName,
  UsersTable,
} from './user.table';
import { USER_SCHEMA } from './user.table';

export type UserDb = Kysely<UserDatabase>;
export type UserTrx = Transaction<UserDatabase>;

const LIVE_STATUSES: UserStatusName[] = ['CREATED', 'AGREED', 'ACTIVATED', 'BLOCKED'];

function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: BigInt(row.id),
    status: row.status,
    idpType: row.idp_type,
    idpName: row.idp_name,
    userName: row.user_name,
    phoneNumber: row.phone_number,
    userCi: row.user_ci,
    deviceId: row.device_id === null ? null : BigInt(row.device_id),
    deviceUuid: row.device_uuid,
    residentIdSealed: row.resident_id_sealed,
    residentIdUnsealed: row.resident_id,
    customerId: row.customer_id,
    kycStatus: row.kyc_status,
    reason: row.reason,
    validatedAt: row.validated_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toSession(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: BigInt(row.id),
    familyId: row.family_id,
    userId: BigInt(row.user_id),
    deviceId: BigInt(row.device_id),
    sessionExpiresAt: row.session_expires_at,
    familyExpiresAt: row.family_expires_at,
    rotatedAt: row.rotated_at,
    revokedAt: row.revoked_at,
  };
}

function toProcess(row: Selectable<ProcessesTable>): ProcessRecord {
  return {
    id: row.id,
    userId: BigInt(row.user_id),
    transactionType: row.transaction_type,
    transactionContext: row.transaction_context,
    status: row.status,
    authentications: row.authentications,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    completedAt: row.completed_at,
    consumedAt: row.consumed_at,
  };
}

// ---- users ---------------------------------------------------------------------------------

/**
 * Serialises registrations of one identity until the transaction ends (a transaction-scoped
 * advisory lock on a hash of the CI): the check for an existing user and the insert cannot
 * interleave. The partial unique index on live users' user_ci is the backstop.
 */
export async function lockIdentity(trx: UserTrx, userCi: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`users.user_ci:${userCi}`}, 0))`.execute(trx);
}

export async function findLiveUsersByCi(trx: UserTrx, userCi: string): Promise<UserRecord[]> {
  const rows = await trx
    .selectFrom('users')
    .selectAll()
    .where('user_ci', '=', userCi)
    .where('status', 'in', LIVE_STATUSES)
    .forUpdate()
    .execute();
  return rows.map(toUser);
}

export interface NewUser {
  idpType: string;
  idpName: string;
  userName: string;
  phoneNumber: string;
  userCi: string;
  userTokenHash: string;
  deviceId: bigint | null;
  deviceUuid: string;
  now: Date;
}

export async function insertUser(trx: UserTrx, user: NewUser): Promise<UserRecord> {
  const row = await trx
    .insertInto('users')
    .values({
      status: 'CREATED',
      idp_type: user.idpType,
      idp_name: user.idpName,
      user_name: user.userName,
      phone_number: user.phoneNumber,
      user_ci: user.userCi,
      user_token_hash: user.userTokenHash,
      device_id: user.deviceId,
      device_uuid: user.deviceUuid,
      resident_id: null,
      customer_id: null,
      reason: null,
      validated_at: null,
      created_at: user.now,
      updated_at: user.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUser(row);
}

// The statements of a transfer's hot path (CreateProcess, the factor check, completing and
// consuming the process) are QueryTemplates: built and compiled once, not per call. Kysely's
// build/compile was ≈ 5–6 % of the backend's CPU under transfers. One template per shape: an
// option that changes the statement (FOR UPDATE, an optional condition) picks the template.
const userTemplate = QueryTemplate.of<UserDatabase, { id: string }>();
const userById = userTemplate((db, param) => db.selectFrom('users').selectAll().where('id', '=', param('id')));
const userByIdForUpdate = userTemplate((db, param) => db.selectFrom('users').selectAll().where('id', '=', param('id')).forUpdate());

export async function findUserById(
  db: UserDb | UserTrx,
  id: bigint,
  options: { forUpdate?: boolean } = {},
): Promise<UserRecord | undefined> {
  const row = await (options.forUpdate ? userByIdForUpdate : userById).executeTakeFirst(db, { id: id.toString() });
  return row && toUser(row);
}

// Every PrepareLogin and Login.
const userByTokenHashTemplate = QueryTemplate.of<UserDatabase, { hash: string }>();
const userByTokenHash = userByTokenHashTemplate((db, param) =>
  db.selectFrom('users').selectAll().where('user_token_hash', '=', param('hash')),
);
const userByTokenHashForUpdate = userByTokenHashTemplate((db, param) =>
  db.selectFrom('users').selectAll().where('user_token_hash', '=', param('hash')).forUpdate(),
);

export async function findUserByTokenHash(
  db: UserDb | UserTrx,
  hash: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRecord | undefined> {
  const row = await (options.forUpdate ? userByTokenHashForUpdate : userByTokenHash).executeTakeFirst(db, { hash });
  return row && toUser(row);
}

export async function findUserByCustomerId(db: UserDb, customerId: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('customer_id', '=', customerId).executeTakeFirst();
  return row && toUser(row);
}

export async function setUserStatus(
  trx: UserTrx,
  id: bigint,
  status: UserStatusName,
  reason: string | null,
  now: Date,
): Promise<UserRecord> {
  const row = await trx
    .updateTable('users')
    .set({ status, reason, updated_at: now })
    .where('id', '=', id.toString())
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUser(row);
}

/** `residentIdSealed` is the sealed form, `residentIdHash` its keyed hash; the plain column is cleared. */
export async function setCustomerInfo(
  trx: UserTrx,
  id: bigint,
  residentIdSealed: string,
  residentIdHash: string,
  customerId: string,
  now: Date,
): Promise<UserRecord> {
  const row = await trx
    .updateTable('users')
    .set({
      resident_id_sealed: residentIdSealed,
      resident_id_hash: residentIdHash,
      resident_id: null,
      customer_id: customerId,
      updated_at: now,
    })
    .where('id', '=', id.toString())
    .returningAll()
    .executeTakeFirstOrThrow();
  return toUser(row);
}

// ---- member withdrawal ----------------------------------------------------------------------

/** Marks the ACTIVATED user as leaving (the housekeeping tick finishes what a crash interrupts). */
export async function markWithdrawalRequested(db: UserDb, id: bigint, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ withdrawal_requested_at: now })
    .where('id', '=', id.toString())
    .where('status', '=', 'ACTIVATED')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export interface ErasedIdentity {
  withdrawnNameSealed: string;
  unusableTokenHash: string;
  retainUntil: Date;
  now: Date;
}

/**
 * Erases what identifies a DEACTIVATED, withdrawing user (once: `withdrawn_at` is set here):
 * phone, CI, device uuid and the resident id hash go; the name is kept only sealed; the user
 * token no longer matches anything. false when the user is not such a user (or already erased).
 */
export async function eraseWithdrawnIdentity(db: UserDb, id: bigint, erased: ErasedIdentity): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({
      withdrawn_at: erased.now,
      withdrawn_name_sealed: erased.withdrawnNameSealed,
      user_name: '',
      phone_number: '',
      user_ci: '',
      device_uuid: '',
      resident_id_hash: null,
      user_token_hash: erased.unusableTokenHash,
      personal_data_retain_until: erased.retainUntil,
      updated_at: erased.now,
    })
    .where('id', '=', id.toString())
    .where('status', '=', 'DEACTIVATED')
    .where('withdrawal_requested_at', 'is not', null)
    .where('withdrawn_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function markWithdrawalCompleted(db: UserDb, id: bigint, now: Date): Promise<void> {
  await db.updateTable('users').set({ withdrawal_completed_at: now }).where('id', '=', id.toString()).execute();
}

/** DEACTIVATED users whose withdrawal was asked for and not finished (the housekeeping's list). */
export async function listUnfinishedWithdrawals(db: UserDb, limit: number): Promise<bigint[]> {
  const rows = await db
    .selectFrom('users')
    .select('id')
    .where('status', '=', 'DEACTIVATED')
    .where('withdrawal_requested_at', 'is not', null)
    .where('withdrawal_completed_at', 'is', null)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => BigInt(r.id));
}

/** The withdrawal columns of one user. */
export async function findWithdrawal(db: UserDb, id: bigint) {
  return db
    .selectFrom('users')
    .select(['withdrawal_requested_at', 'withdrawn_at', 'withdrawal_completed_at'])
    .where('id', '=', id.toString())
    .executeTakeFirst();
}

/** Retention over: the sealed name, resident id and KYC data of withdrawn users go too. */
export async function erasePersonalDataPastRetention(db: UserDb, now: Date): Promise<number> {
  const result = await db
    .updateTable('users')
    .set({
      withdrawn_name_sealed: null,
      resident_id_sealed: null,
      resident_id: null,
      kyc_data_sealed: null,
      personal_data_retain_until: null,
    })
    .where('personal_data_retain_until', '<=', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** The user (other than `exceptId`) whose resident id has this keyed hash, locked. */
export async function lockUserByResidentIdHash(
  trx: UserTrx,
  hash: string,
  exceptId: bigint,
): Promise<{ id: bigint; status: UserStatusName } | undefined> {
  const row = await trx
    .selectFrom('users')
    .select(['id', 'status'])
    .where('resident_id_hash', '=', hash)
    .where('id', '!=', exceptId.toString())
    .forUpdate()
    .executeTakeFirst();
  return row && { id: BigInt(row.id), status: row.status };
}

/** Lets the resident id go: an abandoned sign-up superseded by a new one of the same person. */
export async function clearResidentIdHash(trx: UserTrx, id: bigint): Promise<void> {
  await trx.updateTable('users').set({ resident_id_hash: null }).where('id', '=', id.toString()).execute();
}

/** Sealed resident ids without their hash, in id order after `afterId` (the backfill's cursor). */
export async function listUnhashedResidentIds(
  db: UserDb,
  afterId: bigint,
  limit: number,
): Promise<Array<{ id: bigint; residentIdSealed: string }>> {
  const rows = await db
    .selectFrom('users')
    .select(['id', 'resident_id_sealed'])
    .where('resident_id_sealed', 'is not', null)
    .where('resident_id_hash', 'is', null)
    .where('id', '>', afterId.toString())
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ id: BigInt(row.id), residentIdSealed: row.resident_id_sealed! }));
}

/** Sets the hash when the row still has none; false when another row holds it (unique index). */
export async function setResidentIdHashIfFree(db: UserDb, id: bigint, hash: string): Promise<boolean> {
  const taken = await db.selectFrom('users').select('id').where('resident_id_hash', '=', hash).executeTakeFirst();
  if (taken) return false;
  try {
    await db
      .updateTable('users')
      .set({ resident_id_hash: hash })
      .where('id', '=', id.toString())
      .where('resident_id_hash', 'is', null)
      .execute();
    return true;
  } catch (err) {
    if (isUniqueViolation(err, 'users_resident_id_hash_key')) return false;
    throw err;
  }
}

/**
 * Up to `limit` rows that still hold a plain resident id, locked for the backfill. SKIP LOCKED:
 * replicas starting together take different rows instead of waiting on each other.
 */
export async function lockUnsealedResidentIds(trx: UserTrx, limit: number): Promise<Array<{ id: bigint; residentId: string }>> {
  const rows = await trx
    .selectFrom('users')
    .select(['id', 'resident_id'])
    .where('resident_id', 'is not', null)
    .orderBy('id')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  return rows.map((row) => ({ id: BigInt(row.id), residentId: row.resident_id! }));
}

export async function replaceWithSealedResidentId(trx: UserTrx, id: bigint, residentIdSealed: string): Promise<void> {
  await trx.updateTable('users').set({ resident_id_sealed: residentIdSealed, resident_id: null }).where('id', '=', id.toString()).execute();
}

export async function setKyc(
  db: UserDb,
  id: bigint,
  kycStatus: KycStatusName,
  reason: string | null,
  now: Date,
  /** The submitted KYC data, sealed; undefined keeps what is on record. */
  kycDataSealed?: string,
): Promise<UserRecord | undefined> {
  const row = await db
    .updateTable('users')
    .set({
      kyc_status: kycStatus,
      reason,
      updated_at: now,
      ...(kycDataSealed === undefined ? {} : { kyc_data_sealed: kycDataSealed, kyc_submitted_at: now }),
      // The time the KYC was last verified; kept when it later changes to something else.
      ...(kycStatus === 'VERIFIED' ? { validated_at: now } : {}),
    })
    .where('id', '=', id.toString())
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

/** `deviceUuid` undefined keeps the registered DeviceUUID. */
export async function setUserDevice(trx: UserTrx, id: bigint, deviceId: bigint, deviceUuid: string | undefined, now: Date): Promise<void> {
  await trx
    .updateTable('users')
    .set({ device_id: deviceId, updated_at: now, ...(deviceUuid === undefined ? {} : { device_uuid: deviceUuid }) })
    .where('id', '=', id.toString())
    .execute();
}

// ---- sessions ------------------------------------------------------------------------------

export interface NewSession {
  familyId: string;
  userId: bigint;
  deviceId: bigint;
  sessionTokenHash: string;
  refreshTokenHash: string;
  sessionExpiresAt: Date;
  familyExpiresAt: Date;
  now: Date;
}

type SessionInsertParams = {
  familyId: string;
  userId: string;
  deviceId: string;
  sessionTokenHash: string;
  refreshTokenHash: string;
  sessionExpiresAt: Date;
  familyExpiresAt: Date;
  now: Date;
};
// Every Login and refresh.
const insertSessionTemplate = QueryTemplate.of<UserDatabase, SessionInsertParams>()((db, param) =>
  db.insertInto('sessions').values({
    family_id: param('familyId'),
    user_id: param('userId'),
    device_id: param('deviceId'),
    session_token_hash: param('sessionTokenHash'),
    refresh_token_hash: param('refreshTokenHash'),
    session_expires_at: param('sessionExpiresAt'),
    family_expires_at: param('familyExpiresAt'),
    created_at: param('now'),
  }),
);

export async function insertSession(trx: UserTrx, session: NewSession): Promise<void> {
  await insertSessionTemplate.execute(trx, {
    familyId: session.familyId,
    userId: session.userId.toString(),
    deviceId: session.deviceId.toString(),
    sessionTokenHash: session.sessionTokenHash,
    refreshTokenHash: session.refreshTokenHash,
    sessionExpiresAt: session.sessionExpiresAt,
    familyExpiresAt: session.familyExpiresAt,
    now: session.now,
  });
}

/**
 * A login by user token in one statement (issue 17): the token's holder locked (FOR UPDATE, so a
 * concurrent block either comes after and revokes this session, or before and is seen here), and
 * only when they are ACTIVATED on `deviceId`, their DONE LOGIN process consumed and, only when it
 * was, the session inserted. Answers the holder when usable (undefined: no usable holder) and
 * whether the session was issued; a holder whose process was not consumed is answered so the
 * caller can tell an unknown process from a used one.
 */
export async function createSessionForUserTokenHash(
  db: UserDb,
  params: Omit<NewSession, 'userId'> & { userTokenHash: string; processId: string },
): Promise<{ user: { id: bigint; userName: string } | undefined; issued: boolean }> {
  const row = await createSessionForUserTokenTemplate.executeTakeFirst(db, {
    userTokenHash: params.userTokenHash,
    processId: params.processId,
    familyId: params.familyId,
    deviceId: params.deviceId.toString(),
    sessionTokenHash: params.sessionTokenHash,
    refreshTokenHash: params.refreshTokenHash,
    sessionExpiresAt: params.sessionExpiresAt,
    familyExpiresAt: params.familyExpiresAt,
    now: params.now,
  });
  if (!row) throw new Error('the login statement answered no row');
  return { user: row.user_id === null ? undefined : { id: BigInt(row.user_id), userName: row.user_name! }, issued: row.issued };
}

const createSessionForUserTokenTemplate = QueryTemplate.of<
  UserDatabase,
  Omit<SessionInsertParams, 'userId'> & { userTokenHash: string; processId: string }
>()(
  // The consume has consumeUpdate's conditions, for a LOGIN process of the usable holder (the
  // holder comes from the CTE, so the builder cannot be reused); the insert reads
  // the consumed row, so it runs only after the consume applied.
  (_db, param) => sql<{ user_id: string | null; user_name: string | null; issued: boolean }>`
    with u as (
      select id, user_name, status, device_id from ${table('users')}
      where user_token_hash = ${param('userTokenHash')}
      for update
    ),
    usable as (
      select id, user_name from u where status = 'ACTIVATED' and device_id = cast(${param('deviceId')} as bigint)
    ),
    consumed as (
      update ${table('processes')} set consumed_at = ${param('now')}
      where id = ${param('processId')}
        and user_id = (select id from usable)
        and status = 'DONE'
        and transaction_type = 'LOGIN'
        and consumed_at is null
        and expires_at > ${param('now')}
      returning user_id
    ),
    inserted as (
      insert into ${table('sessions')}
        (family_id, user_id, device_id, session_token_hash, refresh_token_hash, session_expires_at, family_expires_at, created_at)
      select ${param('familyId')}, consumed.user_id, cast(${param('deviceId')} as bigint), ${param('sessionTokenHash')},
        ${param('refreshTokenHash')}, ${param('sessionExpiresAt')}, ${param('familyExpiresAt')}, ${param('now')}
      from consumed
      returning user_id
    )
    select usable.id as user_id, usable.user_name, exists (select 1 from inserted) as issued
    from (values (1)) as one (x)
    left join usable on true`,
);

/** A session whose token is live at `now` (not expired, rotated or revoked), with its user. */
// One statement for both, built and compiled once (the mobile guard resolves a session on every
// cache miss), and batched: the look-ups of concurrent calls that arrive while one is on its way
// share a statement (`batchedRead`).
const selectLiveSessions = (db: UserDb, sessionTokenHashes: string[], now: Date) =>
  db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .selectAll('u')
    .select([
      's.session_token_hash as s_session_token_hash',
      's.id as s_id',
      's.family_id as s_family_id',
      's.user_id as s_user_id',
      's.device_id as s_device_id',
      's.session_expires_at as s_session_expires_at',
      's.family_expires_at as s_family_expires_at',
      's.rotated_at as s_rotated_at',
      's.revoked_at as s_revoked_at',
    ])
    .where('s.session_token_hash', '=', anyOfKeys(sessionTokenHashes, 'text'))
    .where('s.revoked_at', 'is', null)
    .where('s.rotated_at', 'is', null)
    .where('s.session_expires_at', '>', now)
    .where('s.family_expires_at', '>', now);
type LiveSessionRow = InferResult<ReturnType<typeof selectLiveSessions>>[number];
const liveSessionsByTokenHashes = new QueryTemplate<{ sessionTokenHashes: string[]; now: Date }, LiveSessionRow>((db, param) =>
  selectLiveSessions(db as UserDb, param('sessionTokenHashes'), param('now')),
);

// A batch judges expiry at the latest `now` of its requests: a session that expired while a
// request waited for the batch counts as expired, as it would for a look-up a moment later.
const readLiveSession = batchedRead(async (db: UserDb, asked: readonly { sessionTokenHash: string; now: Date }[]) => {
  const now = new Date(Math.max(...asked.map((a) => a.now.getTime())));
  const rows = await liveSessionsByTokenHashes.execute(db, {
    sessionTokenHashes: [...new Set(asked.map((a) => a.sessionTokenHash))],
    now,
  });
  return answerEach(
    asked,
    (a) => a.sessionTokenHash,
    rows.map((row) => [row.s_session_token_hash, row] as const),
  );
});

export async function findLiveSession(
  db: UserDb,
  sessionTokenHash: string,
  now: Date,
): Promise<{ session: SessionRecord; user: UserRecord } | undefined> {
  // Refused here, alone: in a batch an invalid time would fail the others' look-ups too.
  if (Number.isNaN(now.getTime())) throw new RangeError('findLiveSession: now is not a valid time');
  const row = await readLiveSession(db, { sessionTokenHash, now });
  if (!row) return undefined;
  const session: SessionRecord = {
    id: BigInt(row.s_id),
    familyId: row.s_family_id,
    userId: BigInt(row.s_user_id),
    deviceId: BigInt(row.s_device_id),
    sessionExpiresAt: row.s_session_expires_at,
    familyExpiresAt: row.s_family_expires_at,
    rotatedAt: row.s_rotated_at,
    revokedAt: row.s_revoked_at,
  };
  return { session, user: toUser(row) };
}

/** The session holding this refresh token, row-locked: concurrent rotations queue here. */
export async function lockSessionByRefreshHash(trx: UserTrx, refreshTokenHash: string): Promise<SessionRecord | undefined> {
  const row = await trx
    .selectFrom('sessions')
    .selectAll()
    .where('refresh_token_hash', '=', refreshTokenHash)
    .forUpdate()
    .executeTakeFirst();
  return row && toSession(row);
}

export async function markSessionRotated(trx: UserTrx, id: bigint, now: Date): Promise<void> {
  await trx.updateTable('sessions').set({ rotated_at: now }).where('id', '=', id.toString()).execute();
}

export async function revokeSessionFamily(db: UserDb | UserTrx, familyId: string, reason: string, now: Date): Promise<number> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoke_reason: reason })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Which logins `revokeUserSessions` ends besides the user and device filter. */
export interface SessionFamilyFilter {
  /** Only this login (refresh-token family). */
  familyId?: string;
  /** Every login but this one. */
  exceptFamilyId?: string;
}

/**
 * Revokes the user's unrevoked sessions, on one device or (deviceId null) all, narrowed to one
 * login or to all but one by `families`; returns how many.
 */
export async function revokeUserSessions(
  db: UserDb | UserTrx,
  userId: bigint,
  deviceId: bigint | null,
  reason: string,
  now: Date,
  families: SessionFamilyFilter = {},
): Promise<number> {
  let query = db
    .updateTable('sessions')
    .set({ revoked_at: now, revoke_reason: reason })
    .where('user_id', '=', userId.toString())
    .where('revoked_at', 'is', null)
    // Spent (rotated) rows stay as they are: they are dead already and keep reuse detection.
    .where('rotated_at', 'is', null);
  if (deviceId !== null) query = query.where('device_id', '=', deviceId.toString());
  if (families.familyId !== undefined) query = query.where('family_id', '=', families.familyId);
  else if (families.exceptFamilyId !== undefined) query = query.where('family_id', '!=', families.exceptFamilyId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** A live login: its current (unrotated, unrevoked) row, and when the login began. */
export interface LiveLogin {
  familyId: string;
  deviceId: bigint;
  createdAt: Date;
  lastRefreshedAt: Date;
  expiresAt: Date;
}

/** The user's live logins (refreshable: family not expired, current row not revoked), newest first. */
export async function listLiveLogins(db: UserDb, userId: bigint, now: Date, limit: number): Promise<LiveLogin[]> {
  const rows = await db
    .selectFrom('sessions as s')
    .select((eb) => [
      's.family_id',
      's.device_id',
      's.created_at',
      's.family_expires_at',
      eb
        .selectFrom('sessions as f')
        .select((f) => f.fn.min('f.created_at').as('started'))
        .whereRef('f.family_id', '=', 's.family_id')
        .as('started_at'),
    ])
    .where('s.user_id', '=', userId.toString())
    .where('s.revoked_at', 'is', null)
    .where('s.rotated_at', 'is', null)
    .where('s.family_expires_at', '>', now)
    .orderBy('s.created_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    familyId: r.family_id,
    deviceId: BigInt(r.device_id),
    createdAt: r.started_at ? new Date(r.started_at as Date | string) : r.created_at,
    lastRefreshedAt: r.created_at,
    expiresAt: r.family_expires_at,
  }));
}

/** The users (not DEACTIVATED) bound to a device, ascending. */
export async function findLiveUserIdsOnDevice(db: UserDb, deviceId: bigint): Promise<bigint[]> {
  const rows = await db
    .selectFrom('users')
    .select('id')
    .where('device_id', '=', deviceId.toString())
    .where('status', '!=', 'DEACTIVATED')
    .orderBy('id')
    .execute();
  return rows.map((r) => BigInt(r.id));
}

// ---- policies and processes ----------------------------------------------------------------

/** An enabled policy as stored: its JSON both parsed and as the text Postgres wrote it. */
export interface StoredPolicy {
  id: string;
  priority: number;
  condition: unknown;
  authentications: unknown;
  conditionText: string | null;
  authenticationsText: string;
}

export async function listPolicies(db: UserDb, transactionType: TransactionTypeName): Promise<StoredPolicy[]> {
  const rows = await db
    .selectFrom('authentication_policies')
    .select((eb) => [
      'id',
      'priority',
      // As text: compared again at the insert exactly as stored (a number JSON.parse rounds would not match).
      eb.cast<string | null>('condition', 'text').as('condition_text'),
      eb.cast<string>('authentications', 'text').as('authentications_text'),
    ])
    .where('transaction_type', '=', transactionType)
    .where('enabled', '=', true)
    .orderBy('priority')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    priority: r.priority,
    condition: r.condition_text === null ? null : JSON.parse(r.condition_text),
    authentications: JSON.parse(r.authentications_text),
    conditionText: r.condition_text,
    authenticationsText: r.authentications_text,
  }));
}

export interface NewProcess {
  id: string;
  userId: bigint;
  transactionType: TransactionTypeName;
  transactionContext: string;
  authentications: StoredAuthentication[];
  now: Date;
  expiresAt: Date;
}

const table = (name: keyof UserDatabase) => sql.table(`${USER_SCHEMA}.${name}`);

/**
 * Inserts the process in one statement, only when the user exists and the policy is still
 * enabled for the transaction type with exactly the condition and factors it was chosen by (the
 * caller may have chosen it from a cached read), and answers it with the user's name from the
 * same read of the user (a transfer's credit memo needs it: ADR 0018). undefined when nothing
 * was inserted: the caller finds out why on that (rare) path.
 */
export async function insertProcessIfAllowed(db: UserDb, process: NewProcess, policy: StoredPolicy): Promise<CreatedProcess | undefined> {
  const { inserted, userName } = await writeProcess(db, { ...insertParams(process, policy), recipientUserId: null });
  return inserted && { ...toProcess(inserted), userName: userName ?? '' };
}

/** Another user read by a process's insert: their status (null: no such user) and name as stored. */
export interface RecipientFacts {
  status: UserStatusName | null;
  userName: string;
}

/**
 * As insertProcessIfAllowed, and the insert also requires `recipientUserId` to be ACTIVATED: the
 * statement reads that user too and answers their status and name whether or not it inserted
 * (ADR 0019). `created` undefined: nothing inserted (the recipient, or the rare reasons above).
 */
export async function insertProcessForRecipient(
  db: UserDb,
  process: NewProcess,
  policy: StoredPolicy,
  recipientUserId: bigint,
): Promise<{ created: CreatedProcess | undefined; recipient: RecipientFacts }> {
  const outcome = await writeProcess(db, { ...insertParams(process, policy), recipientUserId: recipientUserId.toString() });
  return {
    created: outcome.inserted && { ...toProcess(outcome.inserted), userName: outcome.userName ?? '' },
    recipient: { status: outcome.recipientStatus, userName: outcome.recipientName ?? '' },
  };
}

type InsertParams = {
  id: string;
  transactionType: TransactionTypeName;
  transactionContext: string;
  authentications: string;
  now: Date;
  expiresAt: Date;
  policyId: string;
  userId: string;
  conditionText: string | null;
  authenticationsText: string;
};

const insertParams = (process: NewProcess, policy: StoredPolicy): InsertParams => ({
  id: process.id,
  transactionType: process.transactionType,
  transactionContext: process.transactionContext,
  authentications: JSON.stringify(process.authentications),
  now: process.now,
  expiresAt: process.expiresAt,
  policyId: policy.id,
  userId: process.userId.toString(),
  conditionText: policy.conditionText,
  authenticationsText: policy.authenticationsText,
});

/**
 * The policy row `p` is still the one chosen from the cached policies: enabled, for this
 * transaction type, with the same condition and factors. Every process insert applies only then
 * (a policy changed since it was cached is read again, never applied).
 */
const policyAsChosen = (chosen: { transactionType: unknown; conditionText: unknown; authenticationsText: unknown }) => sql`
  p.enabled
    and p.transaction_type = ${chosen.transactionType}
    and p.condition is not distinct from cast(${chosen.conditionText} as jsonb)
    and p.authentications = cast(${chosen.authenticationsText} as jsonb)`;

/**
 * The process inserts of concurrent calls (insertProcessIfAllowed, insertProcessForRecipient) that
 * arrive while one is on its way share a statement (`batchedWrite`, ADR 0027). A process id is new
 * (a UUID), so two requests never share a key.
 */
const writeProcess = batchedWrite(
  {
    one: async (db: UserDb, request: ProcessInsertRequest): Promise<ProcessInsertOutcome> => {
      const { recipientUserId, ...params } = request;
      if (recipientUserId === null) {
        const row = await insertProcessIfAllowedTemplate.executeTakeFirst(db, params);
        if (!row) return { inserted: undefined, userName: null, recipientStatus: null, recipientName: null };
        const { user_name, ...inserted } = row;
        return { inserted, userName: user_name, recipientStatus: null, recipientName: null };
      }
      const row = await insertProcessForRecipientTemplate.executeTakeFirst(db, { ...params, recipientUserId });
      if (!row) throw new Error('the process insert answered no row');
      return toInsertOutcome(row);
    },
    many: async (db: UserDb, asked: readonly ProcessInsertRequest[]) => {
      const rows = await insertProcessesMany.execute(db, {
        ids: asked.map((a) => a.id),
        userIds: asked.map((a) => a.userId),
        transactionTypes: asked.map((a) => a.transactionType),
        transactionContexts: asked.map((a) => a.transactionContext),
        authentications: asked.map((a) => a.authentications),
        nows: asked.map((a) => a.now),
        expiresAts: asked.map((a) => a.expiresAt),
        policyIds: asked.map((a) => a.policyId),
        conditionTexts: asked.map((a) => a.conditionText),
        authenticationsTexts: asked.map((a) => a.authenticationsText),
        recipientUserIds: asked.map((a) => a.recipientUserId),
      });
      // A row per request (the left joins below), numbered as asked.
      const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
      return asked.map((_a, i) => {
        const row = byOrd.get(i + 1);
        if (!row) throw new Error('the process insert answered no row for a request');
        return toInsertOutcome(row);
      });
    },
  },
  (request) => request.id,
);

/** `recipientUserId` null: no recipient to check (insertProcessIfAllowed). */
type ProcessInsertRequest = InsertParams & { recipientUserId: string | null };
/** The process when inserted, the user's name, and the recipient (null: none named, or no such user). */
type ProcessInsertOutcome = {
  inserted: Selectable<ProcessesTable> | undefined;
  userName: string | null;
  recipientStatus: UserStatusName | null;
  recipientName: string | null;
};
/** `ord`: the request's number in a batch (the batched statement's only). */
type ProcessInsertRow = Nullable<Selectable<ProcessesTable>> & {
  user_name: string | null;
  recipient_status: UserStatusName | null;
  recipient_name: string | null;
  ord?: string;
};

function toInsertOutcome(row: ProcessInsertRow): ProcessInsertOutcome {
  const { recipient_status, recipient_name, user_name, ord: _ord, ...inserted } = row;
  return {
    inserted: inserted.id === null ? undefined : (inserted as Selectable<ProcessesTable>),
    userName: user_name,
    recipientStatus: recipient_status,
    recipientName: recipient_name,
  };
}

/**
 * The guarded insert both templates share: from the user CTE `u`, only with the policy as it was
 * chosen, and `also` for any further condition.
 */
const guardedProcessInsert = (param: TemplateParam<InsertParams>, also = sql`true`) => sql`
  insert into ${table('processes')}
    (id, user_id, transaction_type, transaction_context, policy_id, status, authentications, created_at, expires_at)
  select ${param('id')}, u.id, ${param('transactionType')}, ${param('transactionContext')}, p.id, 'READY',
    cast(${param('authentications')} as jsonb), ${param('now')}, ${param('expiresAt')}
  from u
  join ${table('authentication_policies')} p on p.id = ${param('policyId')}
  where ${policyAsChosen({
    transactionType: param('transactionType'),
    conditionText: param('conditionText'),
    authenticationsText: param('authenticationsText'),
  })}
    and ${also}
  returning *`;

const insertProcessIfAllowedTemplate = QueryTemplate.of<UserDatabase, InsertParams>()(
  // The user is read once (the CTE) for both the insert's check and the name answered with it.
  (_db, param) => sql<Selectable<ProcessesTable> & { user_name: string }>`
    with u as (select id, user_name from ${table('users')} where id = ${param('userId')}),
    inserted as (${guardedProcessInsert(param)})
    select inserted.*, u.user_name from inserted join u on u.id = inserted.user_id`,
);

const insertProcessForRecipientTemplate = QueryTemplate.of<UserDatabase, InsertParams & { recipientUserId: string }>()(
  // One snapshot for the recipient's check and what is answered; the left joins from one row
  // answer the recipient also when nothing was inserted.
  (_db, param) => sql<
    Nullable<Selectable<ProcessesTable>> & {
      user_name: string | null;
      recipient_status: UserStatusName | null;
      recipient_name: string | null;
    }
  >`
    with u as (select id, user_name from ${table('users')} where id = ${param('userId')}),
    r as (select status, user_name from ${table('users')} where id = ${param('recipientUserId')}),
    inserted as (${guardedProcessInsert(param, sql`exists (select 1 from r where r.status = 'ACTIVATED')`)})
    select inserted.*, u.user_name, r.status as recipient_status, r.user_name as recipient_name
    from (values (1)) as one (x)
    left join inserted on true
    left join u on true
    left join r on true`,
);

const insertProcessesMany = new QueryTemplate<
  {
    ids: string[];
    userIds: string[];
    transactionTypes: string[];
    transactionContexts: string[];
    authentications: string[];
    nows: Date[];
    expiresAts: Date[];
    policyIds: string[];
    conditionTexts: (string | null)[];
    authenticationsTexts: string[];
    recipientUserIds: (string | null)[];
  },
  ProcessInsertRow
>(
  // Each request's process only when its user exists, its policy is as it was chosen and, when
  // it names a recipient, the recipient is ACTIVATED (ADR 0019). One snapshot for the checks and
  // what is answered: the left joins from each request's row answer the user's name and the
  // recipient also when nothing was inserted.
  (_db, param) => sql<ProcessInsertRow>`
    with asked as (
      select * from unnest(
        ${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('userIds'), 'bigint')},
        ${hiddenArray(param('transactionTypes'), 'text')}, ${hiddenArray(param('transactionContexts'), 'text')},
        ${hiddenArray(param('authentications'), 'text')}, ${hiddenArray(param('nows'), 'timestamptz')},
        ${hiddenArray(param('expiresAts'), 'timestamptz')}, ${hiddenArray(param('policyIds'), 'bigint')},
        ${hiddenArray(param('conditionTexts'), 'text')}, ${hiddenArray(param('authenticationsTexts'), 'text')},
        ${hiddenArray(param('recipientUserIds'), 'bigint')}) with ordinality
        as a(id, user_id, transaction_type, transaction_context, authentications, now, expires_at, policy_id,
             condition_text, authentications_text, recipient_user_id, ord)
    ),
    inserted as (
      insert into ${table('processes')}
        (id, user_id, transaction_type, transaction_context, policy_id, status, authentications, created_at, expires_at)
      select asked.id, u.id, asked.transaction_type, asked.transaction_context, p.id, 'READY',
        cast(asked.authentications as jsonb), asked.now, asked.expires_at
      from asked
      join ${table('users')} u on u.id = asked.user_id
      join ${table('authentication_policies')} p on p.id = asked.policy_id
      where ${policyAsChosen({
        transactionType: sql`asked.transaction_type`,
        conditionText: sql`asked.condition_text`,
        authenticationsText: sql`asked.authentications_text`,
      })}
        and (asked.recipient_user_id is null
             or exists (select 1 from ${table('users')} r where r.id = asked.recipient_user_id and r.status = 'ACTIVATED'))
      returning *
    )
    select inserted.*, u.user_name, r.status as recipient_status, r.user_name as recipient_name, asked.ord
    from asked
    left join inserted on inserted.id = asked.id
    left join ${table('users')} u on u.id = asked.user_id
    left join ${table('users')} r on r.id = asked.recipient_user_id`,
);

/**
 * One of the two processes insertProcessForUserToken may insert: the context it is created with
 * and the policy chosen for that context (undefined: no policy applies to it).
 */
export interface ProcessCandidate {
  transactionContext: string;
  authentications: NewProcess['authentications'];
  policy: StoredPolicy | undefined;
}

/**
 * A process for the holder of a user token, in one statement: only when the holder is ACTIVATED
 * and bound to `deviceId`, with `listed` when the holder is one of `listedUserIds` and
 * `unlisted` otherwise, and only with that candidate's policy as it was chosen (ADR 0021). The
 * statement also answers whether there is such a holder and which candidate is theirs, whether
 * or not it inserted, so no refusal needs a second read. `holder` undefined: no such holder;
 * `created` undefined with a holder: their candidate's policy is missing or was changed.
 */
export async function insertProcessForUserToken(
  db: UserDb,
  process: Omit<NewProcess, 'userId' | 'transactionContext' | 'authentications'>,
  token: { userTokenHash: string; deviceId: bigint; listedUserIds: readonly bigint[] },
  candidates: { unlisted: ProcessCandidate; listed: ProcessCandidate },
): Promise<{ holder?: { id: bigint; listed: boolean }; created?: CreatedProcess }> {
  const { unlisted, listed } = candidates;
  const row = await insertProcessForUserTokenTemplate.executeTakeFirst(db, {
    id: process.id,
    transactionType: process.transactionType,
    now: process.now,
    expiresAt: process.expiresAt,
    userTokenHash: token.userTokenHash,
    deviceId: token.deviceId.toString(),
    listedUserIds: token.listedUserIds.map(String),
    context: unlisted.transactionContext,
    authentications: JSON.stringify(unlisted.authentications),
    policyId: unlisted.policy?.id ?? null,
    conditionText: unlisted.policy?.conditionText ?? null,
    authenticationsText: unlisted.policy?.authenticationsText ?? null,
    listedContext: listed.transactionContext,
    listedAuthentications: JSON.stringify(listed.authentications),
    listedPolicyId: listed.policy?.id ?? null,
    listedConditionText: listed.policy?.conditionText ?? null,
    listedAuthenticationsText: listed.policy?.authenticationsText ?? null,
  });
  if (!row) throw new Error('the process insert answered no row');
  const { holder_id, holder_listed, user_name, ...inserted } = row;
  if (holder_id === null) return {};
  const holder = { id: BigInt(holder_id), listed: holder_listed === true };
  if (inserted.id === null) return { holder };
  return { holder, created: { ...toProcess(inserted as Selectable<ProcessesTable>), userName: user_name ?? '' } };
}

type InsertForUserTokenParams = {
  id: string;
  transactionType: TransactionTypeName;
  now: Date;
  expiresAt: Date;
  userTokenHash: string;
  deviceId: string;
  listedUserIds: string[];
  context: string;
  authentications: string;
  policyId: string | null;
  conditionText: string | null;
  authenticationsText: string | null;
  listedContext: string;
  listedAuthentications: string;
  listedPolicyId: string | null;
  listedConditionText: string | null;
  listedAuthenticationsText: string | null;
};

const insertProcessForUserTokenTemplate = QueryTemplate.of<UserDatabase, InsertForUserTokenParams>()(
  // The holder is found by the insert itself (no read before it); the candidate follows from
  // whether they are listed, and its policy must still be enabled and unchanged, as in
  // insertProcessesMany. A candidate without a policy (null id) joins none. The left joins from
  // one row answer the holder also when nothing was inserted (as insertProcessForRecipient).
  (_db, param) => sql<
    Nullable<Selectable<ProcessesTable>> & { user_name: string | null; holder_id: string | null; holder_listed: boolean | null }
  >`
    with u as (
      select id, user_name, id = any(cast(${param('listedUserIds')} as bigint[])) as listed
      from ${table('users')}
      where user_token_hash = ${param('userTokenHash')} and status = 'ACTIVATED'
        and device_id = cast(${param('deviceId')} as bigint)
    ),
    c (listed, context, authentications, policy_id, condition_text, authentications_text) as (
      values
        (false, cast(${param('context')} as text), cast(${param('authentications')} as jsonb),
         cast(${param('policyId')} as bigint), cast(${param('conditionText')} as jsonb),
         cast(${param('authenticationsText')} as jsonb)),
        (true, cast(${param('listedContext')} as text), cast(${param('listedAuthentications')} as jsonb),
         cast(${param('listedPolicyId')} as bigint), cast(${param('listedConditionText')} as jsonb),
         cast(${param('listedAuthenticationsText')} as jsonb))
    ),
    inserted as (
      insert into ${table('processes')}
        (id, user_id, transaction_type, transaction_context, policy_id, status, authentications, created_at, expires_at)
      select ${param('id')}, u.id, ${param('transactionType')}, c.context, p.id, 'READY', c.authentications,
        ${param('now')}, ${param('expiresAt')}
      from u
      join c on c.listed = u.listed
      join ${table('authentication_policies')} p on p.id = c.policy_id
      where ${policyAsChosen({
        transactionType: param('transactionType'),
        conditionText: sql`c.condition_text`,
        authenticationsText: sql`c.authentications_text`,
      })}
      returning *
    )
    select inserted.*, u.user_name, u.id as holder_id, u.listed as holder_listed
    from (values (1)) as one (x)
    left join u on true
    left join inserted on true`,
);

/** The holder of a user token as a factor check needs it. */
export interface TokenHolder {
  id: bigint;
  status: UserStatusName;
  deviceId: bigint | null;
}

/**
 * The holder of the user token and its process with this id, in one statement (a left join:
 * the user also when the process is not theirs or does not exist). undefined for no holder.
 * Batched (`batchedRead`): the checks of concurrent logins that arrive while one is on its way
 * share a statement, which reads every holder asked with every process asked and keeps the
 * pairs asked for (a process joins only its own user, by construction).
 */
export async function findTokenHolderAndProcess(
  db: UserDb,
  userTokenHash: string,
  processId: string,
): Promise<{ user: TokenHolder; process: ProcessRecord | undefined } | undefined> {
  return readTokenHolderAndProcess(db, { userTokenHash, processId });
}

const readTokenHolderAndProcess = batchedRead(async (db: UserDb, asked: readonly { userTokenHash: string; processId: string }[]) => {
  const rows = await tokenHoldersAndProcesses.execute(db, {
    userTokenHashes: [...new Set(asked.map((a) => a.userTokenHash))],
    processIds: [...new Set(asked.map((a) => a.processId))],
  });
  const holders = new Map<string, TokenHolder>();
  const processes = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    holders.set(row.u_user_token_hash, {
      id: BigInt(row.u_id),
      status: row.u_status,
      deviceId: row.u_device_id === null ? null : BigInt(row.u_device_id),
    });
    if (row.id !== null) processes.set(`${row.u_user_token_hash}/${row.id}`, row);
  }
  return asked.map((a) => {
    const holder = holders.get(a.userTokenHash);
    if (!holder) return undefined;
    const row = processes.get(`${a.userTokenHash}/${a.processId}`);
    // Each request its own objects, as when read alone.
    return { user: { ...holder }, process: row ? toProcess(row as Selectable<ProcessesTable>) : undefined };
  });
});

const tokenHoldersAndProcesses = QueryTemplate.of<UserDatabase, { userTokenHashes: string[]; processIds: string[] }>()((db, param) =>
  db
    .selectFrom('users as u')
    .leftJoin('processes as p', (join) => join.on('p.id', '=', anyOfKeys(param('processIds'), 'text')).onRef('p.user_id', '=', 'u.id'))
    .select([
      'u.user_token_hash as u_user_token_hash',
      'u.id as u_id',
      'u.status as u_status',
      'u.device_id as u_device_id',
      'p.id',
      'p.user_id',
      'p.transaction_type',
      'p.transaction_context',
      'p.policy_id',
      'p.status',
      'p.authentications',
      'p.created_at',
      'p.expires_at',
      'p.completed_at',
      'p.consumed_at',
    ])
    .where('u.user_token_hash', '=', anyOfKeys(param('userTokenHashes'), 'text')),
);

/** The user's process with this id (another user's is not found, by construction). */
export async function findProcess(
  db: UserDb | UserTrx,
  id: string,
  userId: bigint,
  options: { forUpdate?: boolean } = {},
): Promise<ProcessRecord | undefined> {
  const row = await (options.forUpdate ? processByIdForUpdate : processById).executeTakeFirst(db, { id, userId: userId.toString() });
  return row && toProcess(row);
}

const processTemplate = QueryTemplate.of<UserDatabase, { id: string; userId: string }>();
const selectProcess = (db: UserDb, param: TemplateParam<{ id: string; userId: string }>) =>
  db.selectFrom('processes').selectAll().where('id', '=', param('id')).where('user_id', '=', param('userId'));
const processById = processTemplate((db, param) => selectProcess(db, param));
const processByIdForUpdate = processTemplate((db, param) => selectProcess(db, param).forUpdate());

/**
 * Moves the user's running process from the `expected` steps to `next` in one statement: a
 * compare-and-set, so it applies only while the stored steps are still exactly `expected` (steps
 * only ever go from READY to DONE, so equal steps mean no other completion came in between) and
 * the process is unexpired and not DONE. undefined when it did not apply.
 *
 * Batched (`batchedWrite`, ADR 0027): the steps of concurrent authentications that arrive while
 * one is on its way share a statement, one per process at a time, so a second step of one process
 * compares with what the first left, as it would alone.
 */
export async function updateProcessStepsIfUnchanged(
  db: UserDb,
  params: {
    id: string;
    userId: bigint;
    expected: readonly StoredAuthentication[];
    next: readonly StoredAuthentication[];
    status: ProcessStatusName;
    now: Date;
  },
): Promise<ProcessRecord | undefined> {
  const row = await writeProcessSteps(db, {
    id: params.id,
    userId: params.userId.toString(),
    status: params.status,
    next: JSON.stringify(params.next),
    expected: JSON.stringify(params.expected),
    now: params.now,
  });
  return row && toProcess(row);
}

type StepsRequest = { id: string; userId: string; status: ProcessStatusName; next: string; expected: string; now: Date };

const writeProcessSteps = batchedWrite(
  {
    // completed_at is set only by the step that makes the process DONE: two one-row statements.
    one: (db: UserDb, request: StepsRequest) =>
      (request.status === 'DONE' ? completeProcessSteps : advanceProcessSteps).executeTakeFirst(db, request),
    many: async (db: UserDb, asked: readonly StepsRequest[]) => {
      const rows = await updateStepsMany.execute(db, {
        ids: asked.map((a) => a.id),
        userIds: asked.map((a) => a.userId),
        statuses: asked.map((a) => a.status),
        nexts: asked.map((a) => a.next),
        expecteds: asked.map((a) => a.expected),
        nows: asked.map((a) => a.now),
      });
      // One request per process in a batch (the key), so a row answers the request of its id.
      return answerEach(
        asked,
        (a) => a.id,
        rows.map((r) => [r.id, r] as const),
      );
    },
  },
  (request) => request.id,
);

const updateSteps = (db: UserDb, param: TemplateParam<StepsRequest>, done: boolean) =>
  db
    .updateTable('processes')
    .set({
      status: param('status'),
      authentications: param('next'),
      ...(done ? { completed_at: param('now') } : {}),
    })
    .where('id', '=', param('id'))
    .where('user_id', '=', param('userId'))
    .where('status', '!=', 'DONE')
    .where('expires_at', '>', param('now'))
    .where(sql<boolean>`authentications = cast(${param('expected')} as jsonb)`)
    .returningAll();
const advanceProcessSteps = QueryTemplate.of<UserDatabase, StepsRequest>()((db, param) => updateSteps(db, param, false));
const completeProcessSteps = QueryTemplate.of<UserDatabase, StepsRequest>()((db, param) => updateSteps(db, param, true));

/** completed_at is set only by the step that makes the process DONE. */
const updateStepsMany = new QueryTemplate<
  { ids: string[]; userIds: string[]; statuses: string[]; nexts: string[]; expecteds: string[]; nows: Date[] },
  Selectable<ProcessesTable>
>(
  (_db, param) => sql<Selectable<ProcessesTable>>`
    update ${table('processes')} as p
    set status = v.status, authentications = cast(v.next as jsonb),
        completed_at = case when v.status = 'DONE' then v.now else p.completed_at end
    from unnest(${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('userIds'), 'bigint')}, ${hiddenArray(param('statuses'), 'text')},
                ${hiddenArray(param('nexts'), 'text')}, ${hiddenArray(param('expecteds'), 'text')}, ${hiddenArray(param('nows'), 'timestamptz')})
      as v(id, user_id, status, next, expected, now)
    where p.id = v.id and p.user_id = v.user_id and p.status != 'DONE' and p.expires_at > v.now
      and p.authentications = cast(v.expected as jsonb)
    returning p.*`,
);

/**
 * Marks a DONE, unexpired, unconsumed process of this user, type and (when given) exact context
 * consumed, in one statement: of any number of concurrent calls, one gets the row.
 */
export async function consumeDoneProcess(
  db: UserDb | UserTrx,
  params: { id: string; userId: bigint; transactionType: TransactionTypeName; transactionContext?: string; now: Date },
): Promise<ProcessRecord | undefined> {
  const values = { id: params.id, userId: params.userId.toString(), transactionType: params.transactionType, now: params.now };
  const row =
    params.transactionContext === undefined
      ? await consumeProcess.executeTakeFirst(db, values)
      : await consumeProcessOfContext.executeTakeFirst(db, { ...values, transactionContext: params.transactionContext });
  return row && toProcess(row);
}

type ConsumeParams = { id: string; userId: string; transactionType: TransactionTypeName; now: Date };
const consumeUpdate = (db: UserDb, param: TemplateParam<ConsumeParams>) =>
  db
    .updateTable('processes')
    .set({ consumed_at: param('now') })
    .where('id', '=', param('id'))
    .where('user_id', '=', param('userId'))
    .where('status', '=', 'DONE')
    .where('transaction_type', '=', param('transactionType'))
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', param('now'));
const consumeProcess = QueryTemplate.of<UserDatabase, ConsumeParams>()((db, param) => consumeUpdate(db, param).returningAll());

/**
 * consumeDoneProcess of an exact context, and in the same statement the status of another user
 * (the caller's recipient: ADR 0018). Always answers, so the status is answered also when the
 * process is not consumed by this call: `consumed` undefined then, `recipientStatus` null when
 * there is no such user.
 *
 * Batched (`batchedWrite`, ADR 0027): the consumptions of concurrent Executes that arrive while
 * one is on its way share a statement, one per process at a time.
 */
export async function consumeDoneProcessReadingUser(
  db: UserDb,
  params: { id: string; userId: bigint; transactionType: TransactionTypeName; transactionContext: string; now: Date; otherUserId: bigint },
): Promise<{ consumed: ProcessRecord | undefined; recipientStatus: UserStatusName | null }> {
  const row = await writeConsumption(db, {
    id: params.id,
    userId: params.userId.toString(),
    transactionType: params.transactionType,
    transactionContext: params.transactionContext,
    now: params.now,
    otherUserId: params.otherUserId.toString(),
  });
  if (!row) throw new Error('the consume statement answered no row');
  const { recipient_status, ord: _ord, ...process } = row;
  return {
    consumed: process.id === null ? undefined : toProcess(process as Selectable<ProcessesTable>),
    recipientStatus: recipient_status,
  };
}

type ConsumptionRequest = ConsumeParams & { transactionContext: string; otherUserId: string };
type Nullable<T> = { [K in keyof T]: T[K] | null };
/** `ord`: the request's number in a batch (the batched statement's only). */
type ConsumptionRow = Nullable<Selectable<ProcessesTable>> & { recipient_status: UserStatusName | null; ord?: string };

const writeConsumption = batchedWrite(
  {
    one: (db: UserDb, request: ConsumptionRequest): Promise<ConsumptionRow | undefined> =>
      consumeProcessReadingUser.executeTakeFirst(db, request),
    many: async (db: UserDb, asked: readonly ConsumptionRequest[]) => {
      const rows = await consumeReadingUsersMany.execute(db, {
        ids: asked.map((a) => a.id),
        userIds: asked.map((a) => a.userId),
        transactionTypes: asked.map((a) => a.transactionType),
        transactionContexts: asked.map((a) => a.transactionContext),
        nows: asked.map((a) => a.now),
        otherUserIds: asked.map((a) => a.otherUserId),
      });
      // A row per request (the left joins below), numbered as asked.
      const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
      return asked.map((_a, i) => byOrd.get(i + 1));
    },
  },
  (request) => request.id,
);

const consumeProcessReadingUser = QueryTemplate.of<UserDatabase, ConsumptionRequest>()(
  // Both from one snapshot; the left joins from one row keep the user's status when the UPDATE
  // (consumeProcessOfContext's) matches nothing (not DONE, used already, expired) and the process
  // columns when there is no such user.
  (db, param) => sql<Nullable<Selectable<ProcessesTable>> & { recipient_status: UserStatusName | null }>`
    with other as (select status from ${table('users')} where id = ${param('otherUserId')}),
    consumed as (${consumeUpdate(db, param).where('transaction_context', '=', param('transactionContext')).returningAll()})
    select consumed.*, other.status as recipient_status
    from (values (1)) as one (x)
    left join consumed on true
    left join other on true`,
);

const consumeReadingUsersMany = new QueryTemplate<
  {
    ids: string[];
    userIds: string[];
    transactionTypes: string[];
    transactionContexts: string[];
    nows: Date[];
    otherUserIds: string[];
  },
  ConsumptionRow
>(
  // consumeProcessOfContext's UPDATE and the other users' statuses, from one snapshot; the left
  // joins from each request's row keep the user's status when the UPDATE matches nothing (not
  // DONE, used already, expired) and the process columns when there is no such user.
  (_db, param) => sql<ConsumptionRow>`
    with asked as (
      select * from unnest(${hiddenArray(param('ids'), 'text')}, ${hiddenArray(param('userIds'), 'bigint')}, ${hiddenArray(param('transactionTypes'), 'text')},
                           ${hiddenArray(param('transactionContexts'), 'text')}, ${hiddenArray(param('nows'), 'timestamptz')},
                           ${hiddenArray(param('otherUserIds'), 'bigint')}) with ordinality
        as a(id, user_id, transaction_type, transaction_context, now, other_user_id, ord)
    ),
    consumed as (
      update ${table('processes')} as p set consumed_at = asked.now
      from asked
      where p.id = asked.id and p.user_id = asked.user_id and p.status = 'DONE'
        and p.transaction_type = asked.transaction_type and p.consumed_at is null and p.expires_at > asked.now
        and p.transaction_context = asked.transaction_context
      returning p.*
    )
    select consumed.*, other.status as recipient_status, asked.ord
    from asked
    left join consumed on consumed.id = asked.id
    left join ${table('users')} as other on other.id = asked.other_user_id`,
);

const consumeProcessOfContext = QueryTemplate.of<UserDatabase, ConsumeParams & { transactionContext: string }>()((db, param) =>
  consumeUpdate(db, param).where('transaction_context', '=', param('transactionContext')).returningAll(),
);

// ---- housekeeping --------------------------------------------------------------------------

/**
 * Deletes processes that expired before `cutoff` and sessions whose family ended before it.
 * Spent and revoked rows of a live family stay: reuse detection needs them until the family ends.
 */
export async function purgeExpired(db: UserDb, cutoff: Date): Promise<{ processes: number; sessions: number }> {
  const processes = await db.deleteFrom('processes').where('expires_at', '<', cutoff).executeTakeFirst();
  const sessions = await db.deleteFrom('sessions').where('family_expires_at', '<', cutoff).executeTakeFirst();
  return { processes: Number(processes.numDeletedRows), sessions: Number(sessions.numDeletedRows) };
}

// ---- KYC review ------------------------------------------------------------------------------

const REVIEWABLE_KYC: KycStatusName[] = ['REGISTERED', 'PROCESSING', 'ON_HOLD'];

/** Customers waiting for a KYC decision, oldest submission first (index users_kyc_review_queue). */
export async function listKycReviews(
  db: UserDb,
  limit: number,
): Promise<Array<{ userId: bigint; kycStatus: KycStatusName; submittedAt: Date | null }>> {
  const rows = await db
    .selectFrom('users')
    .select(['id', 'kyc_status', 'kyc_submitted_at'])
    .where('kyc_status', 'in', REVIEWABLE_KYC)
    .where('withdrawn_at', 'is', null)
    .orderBy('kyc_submitted_at', (ob) => ob.asc().nullsLast())
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ userId: BigInt(r.id), kycStatus: r.kyc_status, submittedAt: r.kyc_submitted_at }));
}

/** A user with its KYC data (sealed) and withdrawal time: the back office's views. */
export interface UserDetail {
  user: UserRecord;
  kycDataSealed: string | null;
  kycSubmittedAt: Date | null;
  withdrawnAt: Date | null;
}

/** By user id or customer (CIF) number; undefined when there is no such user. */
export async function findUserDetail(db: UserDb, key: { id: bigint } | { customerId: string }): Promise<UserDetail | undefined> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where((eb) => ('id' in key ? eb('id', '=', key.id.toString()) : eb('customer_id', '=', key.customerId)))
    .executeTakeFirst();
  return (
    row && { user: toUser(row), kycDataSealed: row.kyc_data_sealed, kycSubmittedAt: row.kyc_submitted_at, withdrawnAt: row.withdrawn_at }
  );
}
