import { int, readConfig, type Env } from '@kfrm/config';
import type { ServiceModule } from '@kfrm/runtime';
import { createAccounts } from './accounts';
import { purgeExpiredRows } from './housekeeping';
import type { DeviceRevoker, SigningCertificateSource } from './deps';
import { migrations } from './migrations';
import { createProcesses } from './processes';
import { createSessions } from './sessions';
import { deviceRevokerFrom, signingCertificatesFrom } from './upstream.client';
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
}

function readUserConfig(env: Env | undefined) {
  return readConfig(
    {
      sessionTtlSeconds: int('KFRM_USER_SESSION_TTL_SECONDS', { default: 30 * 60, min: 60, max: 24 * 60 * 60 }),
      refreshFamilyTtlSeconds: int('KFRM_USER_REFRESH_TTL_SECONDS', { default: 14 * 24 * 60 * 60, min: 60 * 60, max: 90 * 24 * 60 * 60 }),
      processTtlSeconds: int('KFRM_USER_PROCESS_TTL_SECONDS', { default: 5 * 60, min: 30, max: 60 * 60 }),
      purgeIntervalMs: int('KFRM_USER_PURGE_INTERVAL_MS', { default: 60 * 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
    },
    env,
  );
}

/**
 * The user service: user records, sessions and authentication processes (ADR 0003). Everything
 * is served on the internal listener: the seed's UserService and the internal
 * UserAccountService, SessionService and ProcessStepService.
 */
export function createUserModule(options: UserModuleOptions = {}): ServiceModule {
  return {
    name: 'user',
    schema: USER_SCHEMA,
    migrations,
    create({ db, logger, internalClients }) {
      const config = readUserConfig(options.env);
      const deps = {
        db: db.kysely<UserDatabase>(USER_SCHEMA),
        logger,
        devices: options.devices ?? deviceRevokerFrom(internalClients, logger),
        signingCertificates: options.signingCertificates ?? signingCertificatesFrom(internalClients),
        sessionTtlMs: config.sessionTtlSeconds * 1000,
        refreshFamilyTtlMs: config.refreshFamilyTtlSeconds * 1000,
        processTtlMs: config.processTtlSeconds * 1000,
        now: options.now,
      };
      const useCases = { accounts: createAccounts(deps), sessions: createSessions(deps), processes: createProcesses(deps) };
      // Housekeeping only: a failed run is logged and retried at the next tick.
      const purge = setInterval(() => {
        purgeExpiredRows(deps).catch((err: unknown) => logger.error({ err }, 'purging expired rows failed'));
      }, config.purgeIntervalMs);
      purge.unref();
      return {
        internal: [userServiceHandlers(useCases), userAccountHandlers(useCases), sessionHandlers(useCases), processStepHandlers(useCases)],
        async close() {
          clearInterval(purge);
        },
      };
    },
  };
}

export const userModule: ServiceModule = createUserModule();
