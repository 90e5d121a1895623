import { answerEach, anyOfKeys, batchedRead, QueryTemplate } from '@kfrm/db';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { IdentityDatabase, SecretKind } from './identity.table';

type Db = Kysely<IdentityDatabase>;

// ---- terms ---------------------------------------------------------------------------------

export function listActiveTerms(db: Db) {
  return db
    .selectFrom('terms')
    .select(['id', 'name', 'url', 'description', 'mandatory'])
    .where('active', '=', true)
    .orderBy('id')
    .execute();
}

export async function saveAgreements(db: Db, userId: bigint, agreements: { termId: string; agreed: boolean }[]): Promise<void> {
  if (agreements.length === 0) return;
  await db
    .insertInto('term_agreements')
    .values(agreements.map((a) => ({ user_id: userId, term_id: a.termId, agreed: a.agreed, updated_at: new Date() })))
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'term_id'])
        .doUpdateSet((eb) => ({ agreed: eb.ref('excluded.agreed'), updated_at: eb.ref('excluded.updated_at') })),
    )
    .execute();
}

// ---- registrations -------------------------------------------------------------------------

/** A new sign-up for the user, or a fresh start of one that did not complete. */
export async function startRegistration(db: Db, userId: bigint, deviceId: bigint, expiresAt: Date): Promise<void> {
  await db
    .insertInto('registrations')
    .values({ user_id: userId, device_id: deviceId, expires_at: expiresAt, pending_pin_hash: null, pending_pattern_hash: null })
    .onConflict((oc) =>
      oc.column('user_id').doUpdateSet({
        device_id: deviceId,
        expires_at: expiresAt,
        pending_pin_hash: null,
        pending_pattern_hash: null,
        completed_at: null,
      }),
    )
    .execute();
}

export function findRegistration(db: Db, userId: bigint) {
  return db.selectFrom('registrations').selectAll().where('user_id', '=', String(userId)).executeTakeFirst();
}

/** The newest sign-up run on this device (SubmitCustomerInfo and RegisterKyc carry no user token). */
export function findLatestRegistrationOfDevice(db: Db, deviceId: bigint) {
  return db
    .selectFrom('registrations')
    .selectAll()
    .where('device_id', '=', String(deviceId))
    .orderBy('created_at', 'desc')
    .orderBy('user_id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function setPendingSecret(db: Db, userId: bigint, kind: SecretKind, hash: string | null): Promise<void> {
  await db
    .updateTable('registrations')
    .set(kind === 'pin' ? { pending_pin_hash: hash } : { pending_pattern_hash: hash })
    .where('user_id', '=', String(userId))
    .execute();
}

export async function completeRegistration(db: Db, userId: bigint): Promise<void> {
  await db
    .updateTable('registrations')
    .set({ completed_at: new Date(), pending_pin_hash: null, pending_pattern_hash: null })
    .where('user_id', '=', String(userId))
    .execute();
}

/**
 * The active certificate's columns, as the factor reads of a transfer select them beside the
 * factor (ADR 0028): a left join, so all three are null without one.
 */
const ACTIVE_CERTIFICATE_COLUMNS = [
  's.der as certificate_der',
  's.serial_number as certificate_serial',
  's.not_after as certificate_not_after',
] as const;

function activeCertificateOf(row: {
  certificate_der: Uint8Array | null;
  certificate_serial: string | null;
  certificate_not_after: Date | null;
}): { der: Uint8Array; serialNumber: string; notAfter: Date } | undefined {
  const { certificate_der: der, certificate_serial: serialNumber, certificate_not_after: notAfter } = row;
  return der !== null && serialNumber !== null && notAfter !== null ? { der, serialNumber, notAfter } : undefined;
}

// ---- PIN and pattern -----------------------------------------------------------------------

// The factor reads of every PIN/biometric/signature check are QueryTemplates: built and compiled
// once, not per call (Kysely's build/compile was ≈ 5–6 % of the backend's CPU under transfers).
// They are read in batches (`batchedRead`): the checks of concurrent calls that arrive while such
// a read is on its way share one statement. A batch asks for every user with every kind asked
// and keeps the pairs asked for (two kinds at most, so at most twice the rows).
const secretsOfUsers = QueryTemplate.of<IdentityDatabase, { userIds: string[]; kinds: SecretKind[] }>()((db, param) =>
  db
    .selectFrom('secret_credentials')
    .select(['user_id', 'kind', 'hash', 'failures', 'locked'])
    .where('user_id', '=', anyOfKeys(param('userIds'), 'bigint'))
    .where('kind', '=', anyOfKeys<SecretKind>(param('kinds'), 'text')),
);

const readSecret = batchedRead(async (db: Db, asked: readonly { userId: bigint; kind: SecretKind }[]) => {
  const rows = await secretsOfUsers.execute(db, {
    userIds: [...new Set(asked.map((a) => String(a.userId)))],
    kinds: [...new Set(asked.map((a) => a.kind))],
  });
  return answerEach(
    asked,
    (a) => `${a.userId}/${a.kind}`,
    rows.map(({ user_id, kind, ...secret }) => [`${user_id}/${kind}`, secret] as const),
  );
});

export function findSecret(db: Db, userId: bigint, kind: SecretKind) {
  return readSecret(db, { userId, kind });
}

// A transfer's factor check reads the user's active signing certificate in the same statement
// (ADR 0028): the Execute that follows asks for it a moment later. Same batching; the certificate
// is judged at the batch's latest `now`, as readActiveCertificate judges it.
const secretsOfUsersWithActiveCertificate = QueryTemplate.of<IdentityDatabase, { userIds: string[]; kinds: SecretKind[]; now: Date }>()(
  (db, param) =>
    db
      .selectFrom('secret_credentials as c')
      .leftJoin('signing_certificates as s', (join) =>
        join.onRef('s.user_id', '=', 'c.user_id').on('s.status', '=', 'active').on('s.not_after', '>', param('now')),
      )
      .select(['c.user_id', 'c.kind', 'c.hash', 'c.failures', 'c.locked', ...ACTIVE_CERTIFICATE_COLUMNS])
      .where('c.user_id', '=', anyOfKeys(param('userIds'), 'bigint'))
      .where('c.kind', '=', anyOfKeys<SecretKind>(param('kinds'), 'text')),
);

const readSecretWithActiveCertificate = batchedRead(async (db: Db, asked: readonly { userId: bigint; kind: SecretKind; now: Date }[]) => {
  const rows = await secretsOfUsersWithActiveCertificate.execute(db, {
    userIds: [...new Set(asked.map((a) => String(a.userId)))],
    kinds: [...new Set(asked.map((a) => a.kind))],
    now: latestOf(asked),
  });
  return answerEach(
    asked,
    (a) => `${a.userId}/${a.kind}`,
    rows.map(
      ({ user_id, kind, hash, failures, locked, ...certificate }) =>
        [`${user_id}/${kind}`, { secret: { hash, failures, locked }, certificate: activeCertificateOf(certificate) }] as const,
    ),
  );
});

/** {@link findSecret}, with the user's active signing certificate at `now` (undefined without one). */
export async function findSecretWithActiveCertificate(db: Db, userId: bigint, kind: SecretKind, now: Date) {
  refuseInvalidTime(now, 'findSecretWithActiveCertificate');
  return readSecretWithActiveCertificate(db, { userId, kind, now });
}

/** Confirms a secret: the pending hash becomes the credential, with a clean attempt record. */
export async function confirmSecret(tx: Transaction<IdentityDatabase>, userId: bigint, kind: SecretKind, hash: string): Promise<void> {
  await tx
    .insertInto('secret_credentials')
    .values({ user_id: userId, kind, hash, failures: 0, locked: false, updated_at: new Date() })
    .onConflict((oc) => oc.columns(['user_id', 'kind']).doUpdateSet({ hash, failures: 0, locked: false, updated_at: new Date() }))
    .execute();
  await tx
    .updateTable('registrations')
    .set(kind === 'pin' ? { pending_pin_hash: null } : { pending_pattern_hash: null })
    .where('user_id', '=', String(userId))
    .execute();
}

/** Monotonic, as the attempt limiter requires: a late writer never lowers the count or unlocks. */
export async function recordSecretFailure(db: Db, userId: bigint, kind: SecretKind, failures: number, locked: boolean): Promise<void> {
  await db
    .updateTable('secret_credentials')
    .set({ failures: sql`greatest(failures, ${failures})`, locked: sql`locked or ${locked}`, updated_at: new Date() })
    .where('user_id', '=', String(userId))
    .where('kind', '=', kind)
    .execute();
}

export async function recordSecretSuccess(db: Db, userId: bigint, kind: SecretKind, rehash?: string): Promise<void> {
  await db
    .updateTable('secret_credentials')
    .set({ failures: 0, updated_at: new Date(), ...(rehash ? { hash: rehash } : {}) })
    .where('user_id', '=', String(userId))
    .where('kind', '=', kind)
    .where('locked', '=', false)
    .execute();
}

/**
 * A changed secret replaces the credential, but only while it is not locked (a lock taken by a
 * racing wrong attempt wins); true when it was replaced.
 */
export async function replaceSecret(db: Db, userId: bigint, kind: SecretKind, hash: string): Promise<boolean> {
  const result = await db
    .updateTable('secret_credentials')
    .set({ hash, failures: 0, updated_at: new Date() })
    .where('user_id', '=', String(userId))
    .where('kind', '=', kind)
    .where('locked', '=', false)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * A forgotten PIN reset after identity re-verification: the new PIN hash replaces the old one,
 * and every secret of the user is back to no failures and unlocked (as the operator's unlock).
 */
export async function resetPin(tx: Transaction<IdentityDatabase>, userId: bigint, hash: string): Promise<void> {
  const now = new Date();
  await tx
    .insertInto('secret_credentials')
    .values({ user_id: userId, kind: 'pin', hash, failures: 0, locked: false, updated_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'kind']).doUpdateSet({ hash, failures: 0, locked: false, updated_at: now }))
    .execute();
  await tx
    .updateTable('secret_credentials')
    .set({ failures: 0, locked: false, updated_at: now })
    .where('user_id', '=', String(userId))
    .execute();
}

/** The operator's unlock: every secret of the user back to no failures and unlocked. */
export async function resetSecretAttempts(db: Db, userId: bigint): Promise<void> {
  await db
    .updateTable('secret_credentials')
    .set({ failures: 0, locked: false, updated_at: new Date() })
    .where('user_id', '=', String(userId))
    .execute();
}

/** Member withdrawal: secrets and biometric keys deleted, certificates revoked, in one transaction. */
export async function revokeAllCredentials(
  db: Db,
  userId: bigint,
  now: Date,
): Promise<{ secretsDeleted: number; biometricKeysDeleted: number; certificatesRevoked: number }> {
  return db.transaction().execute(async (trx) => {
    const secrets = await trx.deleteFrom('secret_credentials').where('user_id', '=', String(userId)).executeTakeFirst();
    const keys = await trx.deleteFrom('biometric_keys').where('user_id', '=', String(userId)).executeTakeFirst();
    const certificates = await trx
      .updateTable('signing_certificates')
      .set({ status: 'revoked', revoked_at: now, verification_token: null })
      .where('user_id', '=', String(userId))
      .where('status', 'in', ['pending', 'active'])
      .executeTakeFirst();
    return {
      secretsDeleted: Number(secrets.numDeletedRows),
      biometricKeysDeleted: Number(keys.numDeletedRows),
      certificatesRevoked: Number(certificates.numUpdatedRows),
    };
  });
}

// ---- biometric keys ------------------------------------------------------------------------

const biometricKeysOfUsers = QueryTemplate.of<IdentityDatabase, { userIds: string[] }>()((db, param) =>
  db
    .selectFrom('biometric_keys')
    .select(['user_id', 'device_id', 'public_key', 'enabled'])
    .where('user_id', '=', anyOfKeys(param('userIds'), 'bigint')),
);

// Batched like the secrets' reads (one key per user: the primary key).
const readBiometricKey = batchedRead(async (db: Db, userIds: readonly bigint[]) => {
  const rows = await biometricKeysOfUsers.execute(db, { userIds: [...new Set(userIds.map(String))] });
  return answerEach(
    userIds,
    String,
    rows.map(({ user_id, ...key }) => [String(user_id), key] as const),
  );
});

export function findBiometricKey(db: Db, userId: bigint) {
  return readBiometricKey(db, userId);
}

// As secretsOfUsersWithActiveCertificate, for a transfer checked by biometric key.
const biometricKeysOfUsersWithActiveCertificate = QueryTemplate.of<IdentityDatabase, { userIds: string[]; now: Date }>()((db, param) =>
  db
    .selectFrom('biometric_keys as k')
    .leftJoin('signing_certificates as s', (join) =>
      join.onRef('s.user_id', '=', 'k.user_id').on('s.status', '=', 'active').on('s.not_after', '>', param('now')),
    )
    .select(['k.user_id', 'k.device_id', 'k.public_key', 'k.enabled', ...ACTIVE_CERTIFICATE_COLUMNS])
    .where('k.user_id', '=', anyOfKeys(param('userIds'), 'bigint')),
);

const readBiometricKeyWithActiveCertificate = batchedRead(async (db: Db, asked: readonly { userId: bigint; now: Date }[]) => {
  const rows = await biometricKeysOfUsersWithActiveCertificate.execute(db, {
    userIds: [...new Set(asked.map((a) => String(a.userId)))],
    now: latestOf(asked),
  });
  return answerEach(
    asked,
    (a) => String(a.userId),
    rows.map(
      ({ user_id, device_id, public_key, enabled, ...certificate }) =>
        [String(user_id), { key: { device_id, public_key, enabled }, certificate: activeCertificateOf(certificate) }] as const,
    ),
  );
});

/** {@link findBiometricKey}, with the user's active signing certificate at `now` (undefined without one). */
export async function findBiometricKeyWithActiveCertificate(db: Db, userId: bigint, now: Date) {
  refuseInvalidTime(now, 'findBiometricKeyWithActiveCertificate');
  return readBiometricKeyWithActiveCertificate(db, { userId, now });
}

const enabledBiometricKeysOnDevices = QueryTemplate.of<IdentityDatabase, { deviceIds: string[] }>()((db, param) =>
  // `enabled` written out, not a parameter: the partial index (migration 003) must match every plan.
  db
    .selectFrom('biometric_keys')
    .select(['device_id', 'user_id'])
    .where('device_id', '=', anyOfKeys(param('deviceIds'), 'bigint'))
    .where(sql<boolean>`enabled`),
);

// Batched like the secrets' reads (PrepareLogin asks it of every login).
const readUsersWithBiometricKeyOnDevice = batchedRead(async (db: Db, deviceIds: readonly bigint[]) => {
  const rows = await enabledBiometricKeysOnDevices.execute(db, { deviceIds: [...new Set(deviceIds.map(String))] });
  const byDevice = new Map<string, bigint[]>();
  for (const row of rows) {
    const users = byDevice.get(String(row.device_id)) ?? [];
    users.push(BigInt(row.user_id));
    byDevice.set(String(row.device_id), users);
  }
  return deviceIds.map((id) => [...(byDevice.get(String(id)) ?? [])]);
});

/** The users whose enabled biometric key lives on this device (usually none or one). */
export async function findUsersWithBiometricKeyOnDevice(db: Db, deviceId: bigint): Promise<bigint[]> {
  return (await readUsersWithBiometricKeyOnDevice(db, deviceId)) ?? [];
}

export async function saveBiometricKey(db: Db, userId: bigint, deviceId: bigint, publicKey: Uint8Array): Promise<void> {
  const values = { device_id: deviceId, public_key: Buffer.from(publicKey), enabled: true, updated_at: new Date() };
  await db
    .insertInto('biometric_keys')
    .values({ user_id: userId, ...values })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
    .execute();
}

export async function disableBiometricKey(db: Db, userId: bigint): Promise<void> {
  await db.updateTable('biometric_keys').set({ enabled: false, updated_at: new Date() }).where('user_id', '=', String(userId)).execute();
}

// ---- signing certificates ------------------------------------------------------------------

export async function insertPendingCertificate(
  db: Db,
  row: { userId: bigint; serialNumber: string; der: Uint8Array; notAfter: Date; verificationToken: string; tokenExpiresAt: Date },
): Promise<void> {
  await db
    .insertInto('signing_certificates')
    .values({
      user_id: row.userId,
      serial_number: row.serialNumber,
      der: Buffer.from(row.der),
      status: 'pending',
      not_after: row.notAfter,
      verification_token: row.verificationToken,
      token_expires_at: row.tokenExpiresAt,
    })
    .execute();
}

/**
 * Takes the verification token of the user's newest pending certificate, once: the token is
 * cleared by a compare-and-set, so of two racing callers only one gets it, and a signature can
 * be checked against it a single time.
 */
export async function takeVerificationToken(db: Db, userId: bigint, now: Date) {
  const pending = await db
    .selectFrom('signing_certificates')
    .select(['id', 'der', 'verification_token'])
    .where('user_id', '=', String(userId))
    .where('status', '=', 'pending')
    .where('verification_token', 'is not', null)
    .where('token_expires_at', '>', now)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!pending?.verification_token) return undefined;
  const taken = await db
    .updateTable('signing_certificates')
    .set({ verification_token: null, token_expires_at: null })
    .where('id', '=', pending.id)
    .where('verification_token', '=', pending.verification_token)
    .executeTakeFirst();
  return taken.numUpdatedRows === 1n ? { id: pending.id, der: pending.der, verificationToken: pending.verification_token } : undefined;
}

export async function activateCertificate(tx: Transaction<IdentityDatabase>, userId: bigint, id: string, now: Date): Promise<void> {
  await tx
    .updateTable('signing_certificates')
    .set({ status: 'revoked', revoked_at: now })
    .where('user_id', '=', String(userId))
    .where('status', '=', 'active')
    .execute();
  await tx
    .updateTable('signing_certificates')
    .set({ status: 'active', activated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** Revokes the user's active certificate (its key stayed on a phone the user left); returns how many. */
export async function revokeActiveCertificates(db: Db, userId: bigint, now: Date): Promise<number> {
  const result = await db
    .updateTable('signing_certificates')
    .set({ status: 'revoked', revoked_at: now })
    .where('user_id', '=', String(userId))
    .where('status', '=', 'active')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

const activeCertificatesOfUsers = QueryTemplate.of<IdentityDatabase, { userIds: string[]; now: Date }>()((db, param) =>
  db
    .selectFrom('signing_certificates')
    .select(['user_id', 'der', 'serial_number', 'not_after'])
    .where('user_id', '=', anyOfKeys(param('userIds'), 'bigint'))
    .where('status', '=', 'active')
    .where('not_after', '>', param('now')),
);

// Batched like the secrets' reads (one active certificate per user: a unique index). A batch
// judges expiry at the latest `now` of its requests: a certificate that expired while a request
// waited for the batch counts as expired, as it would for a request made a moment later.
const readActiveCertificate = batchedRead(async (db: Db, asked: readonly { userId: bigint; now: Date }[]) => {
  const now = latestOf(asked);
  const rows = await activeCertificatesOfUsers.execute(db, { userIds: [...new Set(asked.map((a) => String(a.userId)))], now });
  return answerEach(
    asked,
    (a) => String(a.userId),
    rows.map(({ user_id, ...certificate }) => [String(user_id), certificate] as const),
  );
});

export async function findActiveCertificate(db: Db, userId: bigint, now: Date) {
  refuseInvalidTime(now, 'findActiveCertificate');
  return readActiveCertificate(db, { userId, now });
}

/** Refused before batching, alone: in a batch an invalid time would fail the others' reads too. */
function refuseInvalidTime(now: Date, what: string): void {
  if (Number.isNaN(now.getTime())) throw new RangeError(`${what}: now is not a valid time`);
}

/** The latest `now` of a batch's requests: a certificate that expired while one waited counts as expired. */
function latestOf(asked: readonly { now: Date }[]): Date {
  return new Date(Math.max(...asked.map((a) => a.now.getTime())));
}
