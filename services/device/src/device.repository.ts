import { sql, type Kysely } from 'kysely';
import type { DeviceKeyAlgorithm } from './device-key';
import { DEVICE_SCHEMA, type DeviceDatabase } from './device.table';
import type { RevocationReason } from './revocation-reason';

export type DeviceDb = Kysely<DeviceDatabase>;

export interface NewDeviceRow {
  id: bigint;
  keyAlgorithm: DeviceKeyAlgorithm;
  spkiSha256: string;
  serial: string;
  certificateDer: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export interface DeviceRow extends NewDeviceRow {
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
}

/**
 * Takes the next device id from the table's identity sequence. The id must be known before the
 * certificate (which names it) is signed; the row is then inserted complete, in one statement,
 * so there is never a device without its certificate. An id taken for a failed issuance is a gap.
 */
export async function nextDeviceId(db: DeviceDb): Promise<bigint> {
  // Raw SQL is not schema-rewritten by withSchema, so the table is qualified here.
  const table = `${DEVICE_SCHEMA}.devices`;
  const { rows } = await sql<{ id: string }>`select nextval(pg_get_serial_sequence(${table}, 'id'))::text as id`.execute(db);
  return BigInt(rows[0]!.id);
}

export async function insertDevice(db: DeviceDb, row: NewDeviceRow): Promise<void> {
  await db
    .insertInto('devices')
    .values({
      id: row.id.toString(),
      key_algorithm: row.keyAlgorithm,
      spki_sha256: row.spkiSha256,
      serial: row.serial,
      certificate: row.certificateDer,
      not_before: row.notBefore,
      not_after: row.notAfter,
      created_at: row.createdAt,
    })
    .execute();
}

export async function findDevice(db: DeviceDb, id: bigint): Promise<DeviceRow | undefined> {
  const row = await db.selectFrom('devices').selectAll().where('id', '=', id.toString()).executeTakeFirst();
  if (!row) return undefined;
  return {
    id: BigInt(row.id),
    keyAlgorithm: row.key_algorithm,
    spkiSha256: row.spki_sha256,
    serial: row.serial,
    certificateDer: new Uint8Array(row.certificate),
    notBefore: row.not_before,
    notAfter: row.not_after,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    revocationReason: row.revocation_reason,
  };
}

export interface RevokedCertificate {
  id: bigint;
  serial: string;
  notAfter: Date;
  /** When the device was first revoked (a second revocation keeps the first time and reason). */
  revokedAt: Date;
}

/**
 * Marks the device revoked unless it already is (the first time and reason stay), and returns
 * its certificate's serial and notAfter either way; undefined when there is no such device.
 * One statement, so concurrent revocations of one device agree on the outcome.
 */
export async function revokeDeviceRow(
  db: DeviceDb,
  id: bigint,
  reason: RevocationReason,
  now: Date,
): Promise<RevokedCertificate | undefined> {
  const updated = await db
    .updateTable('devices')
    .set({ revoked_at: now, revocation_reason: reason })
    .where('id', '=', id.toString())
    .where('revoked_at', 'is', null)
    .returning(['id', 'serial', 'not_after', 'revoked_at'])
    .executeTakeFirst();
  const row =
    updated ??
    (await db.selectFrom('devices').select(['id', 'serial', 'not_after', 'revoked_at']).where('id', '=', id.toString()).executeTakeFirst());
  if (!row?.revoked_at) return undefined;
  return { id: BigInt(row.id), serial: row.serial, notAfter: row.not_after, revokedAt: row.revoked_at };
}

/** Revoked certificates still within validity at `now`, in pages by id (keyset, no offsets). */
export async function listRevokedUnexpired(db: DeviceDb, now: Date, afterId: bigint, limit: number): Promise<RevokedCertificate[]> {
  const rows = await db
    .selectFrom('devices')
    .select(['id', 'serial', 'not_after', 'revoked_at'])
    .where('revoked_at', 'is not', null)
    .where('not_after', '>', now)
    .where('id', '>', afterId.toString())
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: BigInt(r.id), serial: r.serial, notAfter: r.not_after, revokedAt: r.revoked_at! }));
}
