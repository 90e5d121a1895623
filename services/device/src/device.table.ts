import type { ColumnType } from 'kysely';

/** The Postgres schema the device service owns. */
export const DEVICE_SCHEMA = 'device';
import type { RevocationReason } from './revocation-reason';
import type { DeviceKeyAlgorithm } from './device-key';

export interface DeviceTable {
  /** int8: read back as a decimal string (the db package keeps int8 exact). */
  id: ColumnType<string, bigint | string | undefined, never>;
  key_algorithm: DeviceKeyAlgorithm;
  spki_sha256: string;
  serial: string;
  certificate: ColumnType<Uint8Array, Uint8Array, never>;
  not_before: ColumnType<Date, Date, never>;
  not_after: ColumnType<Date, Date, never>;
  created_at: ColumnType<Date, Date | undefined, never>;
  revoked_at: ColumnType<Date | null, never, Date>;
  revocation_reason: ColumnType<RevocationReason | null, never, RevocationReason>;
}

export interface DeviceDatabase {
  devices: DeviceTable;
}
