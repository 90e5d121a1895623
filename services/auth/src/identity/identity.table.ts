import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint columns come back as strings from both drivers; written as bigint or string. */
type BigId = ColumnType<string, bigint | string, bigint | string>;

export interface TermTable {
  id: ColumnType<string, never, never>;
  name: string;
  url: string;
  description: string;
  mandatory: boolean;
  active: Generated<boolean>;
  created_at: ColumnType<Date, never, never>;
}

export interface RegistrationTable {
  user_id: BigId;
  device_id: BigId;
  expires_at: Timestamp;
  pending_pin_hash: string | null;
  pending_pattern_hash: string | null;
  completed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: ColumnType<Date, never, never>;
}

export interface TermAgreementTable {
  user_id: BigId;
  term_id: BigId;
  agreed: boolean;
  updated_at: Timestamp;
}

export type SecretKind = 'pin' | 'pattern';

export interface SecretCredentialTable {
  user_id: BigId;
  kind: SecretKind;
  hash: string;
  failures: Generated<number>;
  locked: Generated<boolean>;
  updated_at: Timestamp;
}

export interface BiometricKeyTable {
  user_id: BigId;
  device_id: BigId;
  public_key: Uint8Array;
  enabled: boolean;
  updated_at: Timestamp;
}

export type SigningCertificateStatus = 'pending' | 'active' | 'revoked';

export interface SigningCertificateTable {
  id: ColumnType<string, never, never>;
  user_id: BigId;
  serial_number: string;
  der: Uint8Array;
  status: SigningCertificateStatus;
  not_after: Timestamp;
  verification_token: string | null;
  token_expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: ColumnType<Date, never, never>;
  activated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface IdentityDatabase {
  terms: TermTable;
  registrations: RegistrationTable;
  term_agreements: TermAgreementTable;
  secret_credentials: SecretCredentialTable;
  biometric_keys: BiometricKeyTable;
  signing_certificates: SigningCertificateTable;
}
