import type { KycStatusName, ProcessStatusName, StoredAuthentication, TransactionTypeName, UserStatusName } from './user.table';

export type { KycStatusName, ProcessStatusName, StoredAuthentication, TransactionTypeName, UserStatusName } from './user.table';

export interface UserRecord {
  id: bigint;
  status: UserStatusName;
  idpType: string;
  idpName: string;
  userName: string;
  phoneNumber: string;
  userCi: string;
  deviceId: bigint | null;
  deviceUuid: string;
  /** Sealed resident id (see resident-id-seal.ts); read it with `residentIdOf`. */
  residentIdSealed: string | null;
  /** A plain resident id not yet sealed (legacy row); null once sealed. */
  residentIdUnsealed: string | null;
  customerId: string | null;
  kycStatus: KycStatusName;
  reason: string | null;
  validatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface SessionRecord {
  id: bigint;
  familyId: string;
  userId: bigint;
  deviceId: bigint;
  sessionExpiresAt: Date;
  familyExpiresAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
}

export interface ProcessRecord {
  id: string;
  userId: bigint;
  transactionType: TransactionTypeName;
  transactionContext: string;
  status: ProcessStatusName;
  authentications: StoredAuthentication[];
  createdAt: Date;
  expiresAt: Date;
  completedAt: Date | null;
  consumedAt: Date | null;
}

/**
 * A process as its creation answers it: with its user's name as stored (`user_name`, what
 * FindByUserId answers; empty for a withdrawn member), read by the insert itself (ADR 0018).
 */
export interface CreatedProcess extends ProcessRecord {
  userName: string;
}

/** What a session token resolves to: the session and its user. */
export interface ResolvedSession {
  session: SessionRecord;
  user: UserRecord;
}
