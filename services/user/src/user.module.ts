import { join, resolve } from 'node:path';
import { ConfigError, int, readConfig, str, type Env } from '@kfrm/config';
import { loadKeyEncryptionKey, type KeyEncryptionKey } from '@kfrm/e2e-crypto';
import type { RuntimeConfig, ServiceModule } from '@kfrm/runtime';
import { createAccounts } from './accounts';
import { hashUnhashedResidentIds, purgeExpiredRows, sealUnsealedResidentIds } from './housekeeping';
import type { DeviceRevoker, SigningCertificateSource } from './deps';
import { migrations } from './migrations';
import { createProcesses } from './processes';
import { createKycDataSealer } from './kyc-data-seal';
import { createKycReview } from './kyc-review';
import { createResidentIdHasher } from './resident-id-hash';
import { createResidentIdSealer } from './resident-id-seal';
import { storeSessionRevocationNotice } from './session-revocation';
import { createSessions } from './sessions';
import { auditLogHandlers } from './audit-log.handlers';
import { membershipHandlers } from './membership.handlers';
import { createOperatorApprovals } from './operator-approval';
import { approvedCallExecutor } from './operator-approval.client';
import { operatorApprovalHandlers } from './operator-approval.handlers';
import { createOperatorApprovalRepository } from './operator-approval.repository';
import { credentialRevokerFrom, deviceRevokerFrom, memberAccountsFrom, signingCertificatesFrom } from './upstream.client';
import { toProtoProcess } from './user.mapping';
import { erasePersonalDataPastRetention } from './user.repository';
import { createWithdrawal } from './withdrawal';
import { createWithdrawnNameSealer } from './withdrawn-name-seal';
import { processStepHandlers, sessionHandlers, userAccountHandlers, userServiceHandlers } from './user.handlers';
import { USER_SCHEMA, type UserDatabase } from './user.table';

export { USER_SCHEMA } from './user.table';

export interface UserModuleOptions {
  /** Where the settings are read (process.env by default). */
  env?: Env;
  /** Clock for sessions and processes (tests). */
  now?: () => Date;
  /** Replace the internal-API clients (tests); by default the device and auth services over gRPC. */
  devices?: DeviceRevoker;
  signingCertificates?: SigningCertificateSource;
  /** How long authentication policies are used from memory (at most 10 s, the default); 0 in tests that change them. */
  policyCacheMs?: number;
}

function readUserConfig(env: Env | undefined) {
  return readConfig(
    {
      sessionTtlSeconds: int('KFRM_USER_SESSION_TTL_SECONDS', { default: 30 * 60, min: 60, max: 24 * 60 * 60 }),
      refreshFamilyTtlSeconds: int('KFRM_USER_REFRESH_TTL_SECONDS', { default: 14 * 24 * 60 * 60, min: 60 * 60, max: 90 * 24 * 60 * 60 }),
      processTtlSeconds: int('KFRM_USER_PROCESS_TTL_SECONDS', { default: 5 * 60, min: 30, max: 60 * 60 }),
      purgeIntervalMs: int('KFRM_USER_PURGE_INTERVAL_MS', { default: 60 * 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
      // Seals resident ids at rest (32 raw bytes, or their base64); see resident-id-seal.ts.
      dataKeyFile: str(USER_DATA_KEY_VARIABLE, { optional: true }),
      // Keyed hash of resident ids (one member per number); not the data key. See resident-id-hash.ts.
      residentIdHashKeyFile: str(RESIDENT_ID_HASH_KEY_VARIABLE, { optional: true }),
    },
    env,
  );
}

const USER_DATA_KEY_VARIABLE = 'KFRM_USER_DATA_KEY_FILE';
const RESIDENT_ID_HASH_KEY_VARIABLE = 'KFRM_USER_RESIDENT_ID_HASH_KEY_FILE';

/**
 * The resident id hash key: from KFRM_USER_RESIDENT_ID_HASH_KEY_FILE, required in real mode (a
 * key invented at start would make every stored hash miss), never the data key's file. The
 * embedded default generates one once into the data directory (0600).
 */
export async function loadResidentIdHashKey(
  file: string | undefined,
  dataKeyFile: string | undefined,
  runtime: Pick<RuntimeConfig, 'mode' | 'dataDir'>,
): Promise<KeyEncryptionKey> {
  if (file !== undefined) {
    if (dataKeyFile !== undefined && resolve(file) === resolve(dataKeyFile))
      throw new ConfigError([`${RESIDENT_ID_HASH_KEY_VARIABLE} must name another key than ${USER_DATA_KEY_VARIABLE}`]);
    return loadKeyEncryptionKey({ e2eKekFile: file, e2eKekGenerate: false, variable: RESIDENT_ID_HASH_KEY_VARIABLE });
  }
  if (runtime.mode === 'real') throw new ConfigError([`${RESIDENT_ID_HASH_KEY_VARIABLE} is required when DATABASE_URL is set`]);
  return loadKeyEncryptionKey({
    e2eKekFile: join(runtime.dataDir, 'keys', 'resident-id-hash-key'),
    e2eKekGenerate: true,
    variable: RESIDENT_ID_HASH_KEY_VARIABLE,
  });
}

/**
 * The user data key: from KFRM_USER_DATA_KEY_FILE; required in real mode (a key invented at
 * start would leave every sealed resident id unreadable after a restart or on another replica).
 * The embedded default generates one once into the data directory (0600).
 */
export async function loadUserDataKey(
  file: string | undefined,
  runtime: Pick<RuntimeConfig, 'mode' | 'dataDir'>,
): Promise<KeyEncryptionKey> {
  if (file !== undefined) return loadKeyEncryptionKey({ e2eKekFile: file, e2eKekGenerate: false, variable: USER_DATA_KEY_VARIABLE });
  if (runtime.mode === 'real') throw new ConfigError([`${USER_DATA_KEY_VARIABLE} is required when DATABASE_URL is set`]);
  return loadKeyEncryptionKey({
    e2eKekFile: join(runtime.dataDir, 'keys', 'user-data-key'),
    e2eKekGenerate: true,
    variable: USER_DATA_KEY_VARIABLE,
  });
}

/**
 * The user service: user records, sessions and authentication processes (ADR 0003). Served on
 * the internal listener: the seed's UserService and the internal UserAccountService,
 * SessionService and ProcessStepService; on the mobile listener: MembershipService (member
 * withdrawal, extension).
 */
export function createUserModule(options: UserModuleOptions = {}): ServiceModule {
  return {
    name: 'user',
    // MembershipService (member withdrawal) is the one mobile-facing service of kfrm.api.user.
    mobilePackages: ['kfrm.api.user'],
    secrets: [
      { env: 'KFRM_USER_DATA_KEY_FILE', form: 'file', what: 'key sealing resident registration numbers and KYC data at rest' },
      {
        env: 'KFRM_USER_RESIDENT_ID_HASH_KEY_FILE',
        form: 'file',
        what: 'key of the keyed hash keeping one member per resident registration number',
      },
    ],
    schema: USER_SCHEMA,
    migrations,
    async create({ db, store, logger, internalClients, config: runtime, audit }) {
      const config = readUserConfig(options.env);
      const dataKey = await loadUserDataKey(config.dataKeyFile, runtime);
      const residentIds = createResidentIdSealer(dataKey);
      const kycData = createKycDataSealer(dataKey);
      const residentIdHashes = createResidentIdHasher(
        await loadResidentIdHashKey(config.residentIdHashKeyFile, config.dataKeyFile, runtime),
      );
      const deps = {
        db: db.kysely<UserDatabase>(USER_SCHEMA),
        logger,
        devices: options.devices ?? deviceRevokerFrom(internalClients, logger),
        revocations: storeSessionRevocationNotice(store, logger),
        signingCertificates: options.signingCertificates ?? signingCertificatesFrom(internalClients),
        residentIds,
        kycData,
        residentIdHashes,
        sessionTtlMs: config.sessionTtlSeconds * 1000,
        refreshFamilyTtlMs: config.refreshFamilyTtlSeconds * 1000,
        processTtlMs: config.processTtlSeconds * 1000,
        policyCacheMs: options.policyCacheMs,
        now: options.now,
      };
      // Before serving: every resident id read afterwards is sealed (or read plain until sealed).
      await sealUnsealedResidentIds(deps);
      // Then their keyed hashes (migration 005), so that the uniqueness check sees every member.
      await hashUnhashedResidentIds(deps);
      const useCases = {
        accounts: createAccounts(deps),
        sessions: createSessions(deps),
        processes: createProcesses(deps),
        residentIds,
        kycReview: createKycReview(deps),
      };
      const withdrawal = createWithdrawal({
        db: deps.db,
        logger,
        now: () => options.now?.() ?? new Date(),
        ledger: memberAccountsFrom(internalClients),
        credentials: credentialRevokerFrom(internalClients),
        devices: deps.devices,
        names: createWithdrawnNameSealer(dataKey),
        processes: {
          createProcess: (input) => useCases.processes.createProcess(input),
          consumeProcess: (input) => useCases.processes.consumeProcess(input),
          toWire: toProtoProcess,
        },
        updateUserStatus: (input) => useCases.accounts.updateUserStatus(input),
      });
      // Housekeeping only: a failed run is logged and retried at the next tick.
      const purge = setInterval(() => {
        purgeExpiredRows(deps).catch((err: unknown) => logger.error({ err }, 'purging expired rows failed'));
        // Withdrawals an outage interrupted, then personal data whose retention ended.
        withdrawal
          .finishWithdrawals()
          .then(() => erasePersonalDataPastRetention(deps.db, options.now?.() ?? new Date()))
          .then((erased) => erased > 0 && logger.info({ erased }, 'personal data past retention erased'))
          .catch((err: unknown) => logger.error({ err }, 'finishing withdrawals or erasing past retention failed'));
        // During a rolling update older replicas may still write plain ids: seal them soon, not at the next start.
        sealUnsealedResidentIds(deps)
          .then(() => hashUnhashedResidentIds(deps))
          .catch((err: unknown) => logger.error({ err }, 'sealing or hashing resident ids failed'));
      }, config.purgeIntervalMs);
      purge.unref();
      // Maker-checker for operator acts, hosted here until the operators' own service exists.
      const approvals = createOperatorApprovals({
        repository: createOperatorApprovalRepository(deps.db),
        ...approvedCallExecutor(internalClients),
        now: options.now,
      });
      return {
        mobile: [membershipHandlers(withdrawal)],
        internal: [
          userServiceHandlers(useCases),
          userAccountHandlers(useCases),
          sessionHandlers(useCases),
          processStepHandlers(useCases),
          operatorApprovalHandlers(approvals),
          auditLogHandlers(audit),
        ],
        async close() {
          clearInterval(purge);
        },
      };
    },
  };
}

export const userModule: ServiceModule = createUserModule();
