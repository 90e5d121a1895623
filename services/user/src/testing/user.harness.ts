// Shared set-up for the user service's integration tests (not a test file itself).
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { createAccounts } from '../accounts';
import {
  DEFAULT_TTLS,
  UpstreamUnavailableError,
  type ActiveSigningCertificate,
  type DeviceRevocationReason,
  type UserDomainDeps,
} from '../deps';
import { migrations } from '../migrations';
import { createProcesses } from '../processes';
import { createResidentIdHasher } from '../resident-id-hash';
import { createKycDataSealer } from '../kyc-data-seal';
import { createResidentIdSealer } from '../resident-id-seal';
import { createSessions } from '../sessions';
import { tokenHash } from '../tokens';
import { eraseWithdrawnIdentity, markWithdrawalRequested, type UserDb } from '../user.repository';
import { USER_SCHEMA, type UserDatabase } from '../user.table';

/** A clock tests move by hand. */
export function manualClock(start = new Date('2026-11-24T09:00:00.000Z')) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

export interface Harness {
  database: TestDatabase;
  db: UserDb;
  clock: ReturnType<typeof manualClock>;
  logs: ReturnType<typeof createCapturingDestination>;
  /** Devices the fake device service was asked to revoke. */
  revokedDevices: Array<{ deviceId: bigint; reason: DeviceRevocationReason }>;
  /** Every session revocation announced, in order. */
  sessionRevocations: Array<{ userId: bigint; deviceId: bigint | null }>;
  /** Set to make the fake device service fail. */
  deviceServiceDown: { value: boolean };
  /** The fake auth service's active certificates by user id. */
  certificates: Map<bigint, ActiveSigningCertificate>;
  deps: UserDomainDeps;
  accounts: ReturnType<typeof createAccounts>;
  sessions: ReturnType<typeof createSessions>;
  processes: ReturnType<typeof createProcesses>;
  close(): Promise<void>;
}

export async function openHarness(): Promise<Harness> {
  const database = await openTestDatabase();
  await migrateSchema(database, { schema: USER_SCHEMA, migrations });
  const db = database.kysely<UserDatabase>(USER_SCHEMA);
  const clock = manualClock();
  const logs = createCapturingDestination();
  const logger = createLogger({ service: 'user-test', level: 'debug', destination: logs });
  const revokedDevices: Harness['revokedDevices'] = [];
  const deviceServiceDown = { value: false };
  const certificates = new Map<bigint, ActiveSigningCertificate>();
  const sessionRevocations: Harness['sessionRevocations'] = [];
  const deps: UserDomainDeps = {
    db,
    logger,
    ...DEFAULT_TTLS,
    now: clock.now,
    residentIds: createResidentIdSealer(KeyEncryptionKey.generate()),
    kycData: createKycDataSealer(KeyEncryptionKey.generate()),
    residentIdHashes: createResidentIdHasher(KeyEncryptionKey.generate()),
    devices: {
      async revokeDevice(deviceId, reason) {
        if (deviceServiceDown.value) {
          throw new UpstreamUnavailableError('device service down');
        }
        revokedDevices.push({ deviceId, reason });
      },
    },
    revocations: {
      async sessionsRevoked(userId, deviceId) {
        sessionRevocations.push({ userId, deviceId });
      },
    },
    signingCertificates: {
      async getActive(userId) {
        return certificates.get(userId);
      },
    },
  };
  return {
    database,
    db,
    clock,
    logs,
    revokedDevices,
    sessionRevocations,
    deviceServiceDown,
    certificates,
    deps,
    accounts: createAccounts(deps),
    sessions: createSessions(deps),
    processes: createProcesses(deps),
    close: () => database.close(),
  };
}

/**
 * `deps` with a database that records every statement it sends (the query kind, as kysely builds
 * it) and every transaction it opens ('transaction'): the round trips a use case costs.
 */
export function countingDeps(deps: UserDomainDeps): { deps: UserDomainDeps; statements: string[] } {
  const statements: string[] = [];
  // Counted as they run (results), named by the kind of query: a QueryTemplate runs through
  // transformQuery once, at its first compile, and then only through transformResult.
  const kinds = new WeakMap<object, string>();
  const counted = deps.db.withPlugin({
    transformQuery: (args) => {
      kinds.set(args.queryId, args.node.kind);
      return args.node;
    },
    transformResult: async (args) => {
      statements.push(kinds.get(args.queryId) ?? 'unknown');
      return args.result;
    },
  });
  const db = new Proxy(counted, {
    get(target, property) {
      if (property !== 'transaction') {
        // Kysely keeps its state in private fields: methods must run on the real instance.
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return () => {
        statements.push('transaction');
        return target.transaction();
      };
    },
  });
  return { deps: { ...deps, db }, statements };
}

let ciCounter = 0;

/** Registration input for a fresh identity (unique CI per call). */
export function newIdentity(overrides: Partial<{ userCi: string; deviceId: bigint; userName: string }> = {}) {
  ciCounter++;
  return {
    idpType: 'PASS',
    idpName: 'SKT',
    userName: overrides.userName ?? '홍길동',
    phoneNumber: '01012345678',
    userCi: overrides.userCi ?? `ci-${process.pid}-${ciCounter}-${Math.random().toString(36).slice(2)}`,
    deviceId: overrides.deviceId ?? BigInt(1000 + ciCounter),
    deviceUuid: `uuid-${ciCounter}`,
  };
}

/** A registered, ACTIVATED user on `deviceId`. */
export async function activatedUser(h: Harness, deviceId?: bigint) {
  const { user, userToken } = await h.accounts.registerUser(newIdentity(deviceId === undefined ? {} : { deviceId }));
  await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'CREATED', newStatus: 'AGREED', reason: '', unlock: false });
  const activated = await h.accounts.updateUserStatus({
    userId: user.id,
    expectedStatus: 'AGREED',
    newStatus: 'ACTIVATED',
    reason: '',
    unlock: false,
  });
  return { user: activated, userToken };
}

/** A DONE LOGIN process of the user (PIN, the default policy's factor). */
export async function doneLogin(h: Harness, userId: bigint): Promise<string> {
  const process = await h.processes.createProcess({ userId, transactionType: 'LOGIN', transactionContext: '{}' });
  await h.processes.completeAuthentication({ processId: process.id, userId, type: 'PIN' });
  return process.id;
}

/**
 * An ACTIVATED user taken through withdrawal's writes (requested, DEACTIVATED, identity erased):
 * the row a withdrawn member leaves, its name only sealed (the sealing itself is withdrawal's,
 * tested in withdrawal.it.test.ts).
 */
export async function withdrawnUser(h: Harness, userName = '홍길동') {
  const { user } = await h.accounts.registerUser(newIdentity({ userName }));
  await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'CREATED', newStatus: 'AGREED', reason: '', unlock: false });
  await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'AGREED', newStatus: 'ACTIVATED', reason: '', unlock: false });
  const now = h.clock.now();
  await markWithdrawalRequested(h.db, user.id, now);
  await h.accounts.updateUserStatus({
    userId: user.id,
    expectedStatus: 'ACTIVATED',
    newStatus: 'DEACTIVATED',
    reason: 'member withdrawal',
    unlock: false,
  });
  const erased = await eraseWithdrawnIdentity(h.db, user.id, {
    withdrawnNameSealed: 'sealed-in-test',
    unusableTokenHash: tokenHash(`unusable-${user.id}-${Math.random()}`),
    retainUntil: new Date(now.getTime() + 365 * 24 * 3600_000),
    now,
  });
  if (!erased) throw new Error('the withdrawn identity was not erased');
  return user.id;
}

/** The DomainError code a promise fails with, 'ok' when it succeeds. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      return typeof code === 'string' ? code : `${(err as Error).name}: ${(err as Error).message}`;
    },
  );
}
