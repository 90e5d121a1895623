import { int, readConfig, str, type Env } from '@kfrm/config';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { FundingInternalServiceClient } from '@kfrm/proto/gen/kfrm/api/funding/funding_internal';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { ProcessStepServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import type { ServiceModule } from '@kfrm/runtime';
import { DEFAULT_ICON_BASE_URL } from './institutions';
import { sandboxInterbankDirectory, type InterbankDirectory } from './interbank-directory';
import { migrations } from './migrations';
import { DEFAULT_MAX_LIMITS } from './transfer-limits';
import { transferHandlers } from './transfer.handlers';
import { TRANSFER_SCHEMA, type TransferDatabase } from './transfer.table';
import { createTransfers, type TransferDeps } from './transfers';
import { grpcFunding, grpcLedger, grpcUsers } from './upstream';

export { TRANSFER_SCHEMA } from './transfer.table';

export interface TransferModuleOptions {
  /** Where KFRM_TRANSFER_* are read (process.env by default). */
  env?: Env;
  /** The interbank account inquiry; the sandbox by default (the only one there is today). */
  interbank?: InterbankDirectory;
  /** Clock and lease timings (tests). */
  tuning?: Pick<TransferDeps, 'now' | 'leaseMs' | 'waitMs' | 'maxWaits' | 'pendingRetentionMs'>;
}

function readTransferConfig(env: Env | undefined) {
  return readConfig(
    {
      iconBaseUrl: str('KFRM_TRANSFER_ICON_BASE_URL', { default: DEFAULT_ICON_BASE_URL }),
      purgeIntervalMs: int('KFRM_TRANSFER_PURGE_INTERVAL_MS', { default: 60 * 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
      // The highest limits a customer may set through ChangeTransferLimit (whole KRW).
      maxLimitPerTransactionKrw: int('KFRM_TRANSFER_MAX_LIMIT_PER_TRANSACTION_KRW', {
        default: Number(DEFAULT_MAX_LIMITS.perTransactionMinor),
        min: 1,
        max: Number.MAX_SAFE_INTEGER,
      }),
      maxLimitPerDayKrw: int('KFRM_TRANSFER_MAX_LIMIT_PER_DAY_KRW', {
        default: Number(DEFAULT_MAX_LIMITS.perDayMinor),
        min: 1,
        max: Number.MAX_SAFE_INTEGER,
      }),
    },
    env,
  );
}

/**
 * The transfer service: TransferService on the mobile listener (session access). Money moves
 * only through the ledger's internal API; authentication processes and signatures are the user
 * service's (UserService, ProcessStepService).
 */
export function createTransferModule(options: TransferModuleOptions = {}): ServiceModule {
  return {
    name: 'transfer',
    mobilePackages: ['kfrm.api.transfer'],
    schema: TRANSFER_SCHEMA,
    migrations,
    create({ db, logger, config: runtime, internalClients }) {
      const config = readTransferConfig(options.env);
      if (config.maxLimitPerTransactionKrw > config.maxLimitPerDayKrw)
        throw new Error('KFRM_TRANSFER_MAX_LIMIT_PER_TRANSACTION_KRW must not be over KFRM_TRANSFER_MAX_LIMIT_PER_DAY_KRW');
      // There is no interbank network adapter yet: a production start says so loudly.
      if (!options.interbank && runtime.mode === 'real')
        logger.warn('transfers to other institutions use the interbank sandbox (no network adapter configured)');
      const transfers = createTransfers({
        db: db.kysely<TransferDatabase>(TRANSFER_SCHEMA),
        ledger: grpcLedger(() => internalClients.get(LedgerServiceClient)),
        funding: grpcFunding(() => internalClients.get(FundingInternalServiceClient)),
        users: grpcUsers(
          () => internalClients.get(UserServiceClient),
          () => internalClients.get(ProcessStepServiceClient),
        ),
        interbank: options.interbank ?? sandboxInterbankDirectory(),
        logger,
        maxLimits: { perTransactionMinor: BigInt(config.maxLimitPerTransactionKrw), perDayMinor: BigInt(config.maxLimitPerDayKrw) },
        ...options.tuning,
      });
      // Housekeeping only: a failed run is logged and retried at the next tick.
      const purge = setInterval(() => {
        transfers.purgeStalePending().catch((err: unknown) => logger.error({ err }, 'purging stale pending transfers failed'));
      }, config.purgeIntervalMs);
      purge.unref();
      return {
        mobile: [transferHandlers(transfers, { iconBaseUrl: config.iconBaseUrl })],
        async close() {
          clearInterval(purge);
        },
      };
    },
  };
}

export const transferModule: ServiceModule = createTransferModule();
